outputDir = FIXME
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__mitocheck_incenp_t70.tif");
run("Gaussian Blur...", "sigma=1");
run("Auto Local Threshold", "method=Bernsen radius=15 parameter_1=0 parameter_2=0 white");
run("Set Measurements...", "area centroid redirect=None decimal=3");
setThreshold(255, 255);
run("Analyze Particles...", "size=5-Infinity pixel show=[Count Masks] display clear add");
saveAs("Tiff", outputDir + "local_labels.tif");
saveAs("Results", outputDir + "local_results.csv");
