#@ File (label="Input image") input
#@ File (label="Output folder", style="directory") outputDir
#@ Integer (label="Minimum particle size (pixels)", value=0) minSize
#@ Integer (label="Maximum particle size (pixels)", value=1000) maxSize
#@ Integer (label="Delay before starting (ms)", value=0) delay

// The output-saving activity (fiji_macros/output_saving.ijm) for batch tests,
// with one trap: an input whose file name contains "hang" never finishes
// (an endless loop, as a script stuck on one bad image would); "delay" makes
// every image take at least that many milliseconds.

if (indexOf(File.getName(input), "hang") >= 0) {
    i = 0;
    while (true) {
        i = i + 1;
    }
}

if (delay > 0)
    wait(delay);
open(input);
title = getTitle();
base = File.getNameWithoutExtension(title);

setOption("BlackBackground", true);
setThreshold(1, 255);
run("Convert to Mask");

run("Set Measurements...", "area centroid center perimeter bounding redirect=None decimal=3");
run("Analyze Particles...", "size=" + minSize + "-" + maxSize + " pixel show=[Count Masks] display clear add");

selectImage("Count Masks of " + title);
run("glasbey_on_dark");
saveAs("Tiff", outputDir + File.separator + base + "_labels.tif");
saveAs("PNG", outputDir + File.separator + base + "_labels.png");

saveAs("Results", outputDir + File.separator + base + "_results.txt");
saveAs("Results", outputDir + File.separator + base + "_results.csv");

if (roiManager("count") > 0)
    roiManager("save", outputDir + File.separator + base + "_rois.zip");
print("saved " + nResults + " particles of " + title);
