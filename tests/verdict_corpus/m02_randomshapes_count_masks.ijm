outputDir = FIXME
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
run("Set Measurements...", "area centroid redirect=None decimal=3");
run("Analyze Particles...", "size=0-1000 pixel show=[Count Masks] display clear add");
run("glasbey_on_dark");
saveAs("Tiff", outputDir + "labels.tif");
saveAs("Results", outputDir + "results.txt");
roiManager("save", outputDir + "rois.zip");
