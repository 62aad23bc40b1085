newImage("one", "8-bit black", 32, 32, 1);
newImage("two", "16-bit ramp", 48, 32, 1);
newImage("three", "RGB white", 20, 20, 1);
print(nImages + " images left open");
