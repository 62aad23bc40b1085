// Every image closed before the table and the ROI set are saved
#@ File (style="directory") outputDir
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
setThreshold(255, 255);
run("Set Measurements...", "area centroid decimal=3");
run("Analyze Particles...", "size=10-Infinity pixel show=[Count Masks] display clear add");
saveAs("Tiff", outputDir + "/labels.tif");
run("Close All");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
