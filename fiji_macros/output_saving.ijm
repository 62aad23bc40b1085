#@ File (label="Input image") input
#@ File (label="Output folder", style="directory") outputDir
#@ Integer (label="Minimum particle size (pixels)", value=0) minSize
#@ Integer (label="Maximum particle size (pixels)", value=1000) maxSize

// Output saving: binarize an image, run Analyze Particles and save its three
// outputs: the results table (tab-delimited .txt and .csv), the ROI set (.zip)
// and the label mask (Count Masks, 16-bit .tif and .png; never JPEG, which
// destroys labels). Written for fijirun; same steps as fiji_macros/output_saving.py.

open(input);
title = getTitle();
base = File.getNameWithoutExtension(title);

// binarize: foreground = every non-zero pixel, white on black
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
