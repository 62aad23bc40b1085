#@ File input
#@ File (style="directory") outputDir
#@ String maskFormat

// The output-saving activity with the label mask saved in a format of the
// test's choosing ("Tiff", "Jpeg", "8-bit PNG", "PNG"), for fijirun check.
open(input);
title = getTitle();
setOption("BlackBackground", true);
setThreshold(1, 255);
run("Convert to Mask");
run("Set Measurements...", "area centroid perimeter bounding redirect=None decimal=3");
run("Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] display clear add");
selectImage("Count Masks of " + title);
saveAs("Tiff", outputDir + File.separator + "labels.tif");
if (maskFormat == "Jpeg") {
    saveAs("Jpeg", outputDir + File.separator + "labels.jpg");
} else if (maskFormat == "8-bit PNG") {
    run("8-bit");
    saveAs("PNG", outputDir + File.separator + "labels.png");
} else if (maskFormat == "PNG") {
    saveAs("PNG", outputDir + File.separator + "labels.png");
}
saveAs("Results", outputDir + File.separator + "results.txt");
roiManager("save", outputDir + File.separator + "rois.zip");
