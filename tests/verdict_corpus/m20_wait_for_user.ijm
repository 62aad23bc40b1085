newImage("look", "8-bit ramp", 32, 32, 1);
waitForUser("Look at the image, then click OK");
print("continued");
