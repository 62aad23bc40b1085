// Ask the learner for a threshold, then segment
newImage("ramp", "8-bit ramp", 128, 64, 1);
t = getNumber("Threshold (0-255)", 100);
waitForUser("Look at the image", "then click OK");
setThreshold(t, 255);
run("Convert to Mask");
getStatistics(area, mean);
print("foreground fraction: " + mean / 255);
