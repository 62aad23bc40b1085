// Top-level variables a course asks to edit (here overridden: fijirun run --set minSize=40 --set threshold=120)
#@ File (style="directory") outputDir
minSize = 25;
threshold = 100;
run("Blobs (25K)");
setThreshold(threshold, 255);
run("Set Measurements...", "area mean min centroid decimal=3");
run("Analyze Particles...", "size=" + minSize + "-Infinity show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
