// #@ parameters with defaults: the size range
#@ File (style="directory") outputDir
#@ Integer (value=20) minSize
#@ Integer (value=800) maxSize
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
run("Set Measurements...", "area mean centroid bounding decimal=3");
setThreshold(1, 255);
run("Analyze Particles...", "size=" + minSize + "-" + maxSize + " pixel show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
