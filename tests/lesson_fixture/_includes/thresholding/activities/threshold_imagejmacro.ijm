newImage("ramp", "8-bit ramp", 64, 64, 1);
setThreshold(100, 255);
run("Convert to Mask");
