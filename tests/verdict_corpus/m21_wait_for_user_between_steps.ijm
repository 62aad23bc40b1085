open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif");
run("Gaussian Blur...", "sigma=1");
waitForUser("Check the blur", "then click OK");
setAutoThreshold("Li dark");
run("Convert to Mask");
print("done");
