// Measure the grey image while analysing its mask (Set Measurements redirect)
#@ File (style="directory") outputDir
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif");
rename("grey");
run("Duplicate...", "title=mask");
setAutoThreshold("Otsu dark");
setOption("BlackBackground", true);
run("Convert to Mask");
run("Set Measurements...", "area mean min integrated redirect=grey decimal=3");
run("Analyze Particles...", "size=30-Infinity pixel show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/intensities.csv");
roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
