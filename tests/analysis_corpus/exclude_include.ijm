// Exclude particles on the edges, include holes
#@ File (style="directory") outputDir
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
setThreshold(255, 255);
run("Set Measurements...", "area centroid bounding decimal=3");
run("Analyze Particles...", "size=0-1000 pixel show=[Count Masks] display exclude include clear add");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
