newImage("nuclei", "8-bit ramp", 256, 256, 1);
doCommand("Auto Local Threshold");
for (i = 0; i < 5; i++)
    run("Gaussian Blur...", "sigma=2");
print("blurred");
