// A pre-processing chain before the analysis: blur, auto threshold, mask, watershed
#@ File (style="directory") outputDir
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif");
run("Gaussian Blur...", "sigma=2");
setAutoThreshold("Otsu dark");
setOption("BlackBackground", true);
run("Convert to Mask");
run("Watershed");
run("Set Measurements...", "area centroid perimeter shape decimal=3");
run("Analyze Particles...", "size=20-Infinity pixel show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/nuclei.csv");
roiManager("Save", outputDir + "/nuclei_rois.zip");
saveAs("Tiff", outputDir + "/nuclei_labels.tif");
