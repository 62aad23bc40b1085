// The label mask with a Glasbey LUT, saved as TIFF and as PNG
#@ File (style="directory") outputDir
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
setThreshold(255, 255);
run("Set Measurements...", "area centroid decimal=3");
run("Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] display clear add");
run("glasbey_on_dark");
saveAs("Tiff", outputDir + "/labels.tif");
saveAs("PNG", outputDir + "/labels.png");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
