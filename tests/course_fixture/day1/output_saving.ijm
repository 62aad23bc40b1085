// Course template: output saving (NEUBIAS style)
// Learners replace FIXME with a folder of theirs.
outputDir = FIXME

// open the image from the web
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif")
title = getTitle()
run("Set Measurements...", "area centroid perimeter bounding redirect=None decimal=3")
run("Analyze Particles...", "size=0-1000 pixel show=[Count Masks] display clear add")
run("glasbey_on_dark")
saveAs("Tiff", outputDir + "labels.tif")
saveAs("Results", outputDir + "results.txt")
roiManager("save", outputDir + "rois.zip")
