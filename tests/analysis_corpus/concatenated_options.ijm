// Options built by string concatenation
#@ File (style="directory") outputDir
minSize = 30;
minCirc = 0.5;
options = "size=" + minSize + "-Infinity circularity=" + minCirc + "-1.00";
options = options + " show=[Count Masks] display clear add";
run("Blobs (25K)");
setAutoThreshold("Huang");
run("Set Measurements...", "area centroid shape decimal=4");
run("Analyze Particles...", options);
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
