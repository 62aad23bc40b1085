// Count Masks of an input image saved as a 16-bit TIFF (used with more than 255 particles)
#@ File input
#@ File (style="directory") outputDir
open(input);
setThreshold(255, 255);
run("Set Measurements...", "area centroid decimal=3");
run("Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] display clear add");
saveAs("Tiff", outputDir + "/labels.tif");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
