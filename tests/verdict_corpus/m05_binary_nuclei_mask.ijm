outputDir = FIXME
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary__nuclei.tif");
run("Set Measurements...", "area centroid bounding redirect=None decimal=3");
setThreshold(1, 255);
run("Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] display clear");
saveAs("Tiff", outputDir + "mask_labels.tif");
saveAs("Results", outputDir + "mask_results.txt");
