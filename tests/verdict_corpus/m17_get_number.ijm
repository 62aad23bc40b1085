newImage("ramp", "8-bit ramp", 128, 32, 1);
t = getNumber("Threshold", 90);
setThreshold(t, 255);
run("Convert to Mask");
getStatistics(area, mean);
print("fraction " + mean / 255);
