// Smooth, threshold and count: the results stay in ImageJ (nothing is saved)
open("images/xy_8bit__few_touching_nuclei.tif");
run("Gaussian Blur...", "sigma=2");
setThreshold(60, 255);
run("Set Measurements...", "area mean centroid redirect=None decimal=3");
run("Analyze Particles...", "size=20-Infinity display clear");
print("nuclei found: " + nResults);
