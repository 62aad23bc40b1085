// Two analyses in one script, each saving its own outputs
#@ File (style="directory") outputDir
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
id = getImageID();
setThreshold(255, 255);
run("Set Measurements...", "area centroid decimal=3");
run("Analyze Particles...", "size=0-800 pixel show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/small.csv");
roiManager("Save", outputDir + "/small_rois.zip");
saveAs("Tiff", outputDir + "/small_labels.tif");
roiManager("reset");
selectImage(id);
setThreshold(255, 255);
run("Analyze Particles...", "size=800-Infinity pixel show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/large.csv");
roiManager("Save", outputDir + "/large_rois.zip");
saveAs("Tiff", outputDir + "/large_labels.tif");
