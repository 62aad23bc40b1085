// Size range passed with ImageJ's &variable syntax (the course's output-saving macro)
#@ File (style="directory") outputDir
minSize = 50;
maxSize = 2000;
run("Blobs (25K)");
setAutoThreshold("Default");
run("Set Measurements...", "area mean centroid perimeter decimal=3");
run("Analyze Particles...", "size=&minSize-&maxSize show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
