input = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif";
outputDir = FIXME
open(input);
setThreshold(1, 255);
run("Set Measurements...", "area centroid perimeter bounding redirect=None decimal=3");
run("Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] display clear add");
saveAs("Tiff", outputDir + "labels.tif");
saveAs("Results", outputDir + "results.txt");
roiManager("save", outputDir + "rois.zip");
