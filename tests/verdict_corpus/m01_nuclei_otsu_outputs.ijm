// Binarize the nuclei image (Otsu), count them, save the three outputs
outputDir = FIXME

open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif")
title = getTitle()
setAutoThreshold("Otsu dark");
setOption("BlackBackground", true);
run("Convert to Mask");
run("Set Measurements...", "area centroid perimeter bounding redirect=None decimal=3");
run("Analyze Particles...", "size=10-Infinity pixel show=[Count Masks] display clear add");
saveAs("Tiff", outputDir + "nuclei_labels.tif");
saveAs("Results", outputDir + "nuclei_results.csv");
roiManager("save", outputDir + "nuclei_rois.zip");
