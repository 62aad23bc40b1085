// A calibrated image, the size range in calibrated units (no "pixel")
#@ File (style="directory") outputDir
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif");
run("Properties...", "channels=1 slices=1 frames=1 pixel_width=0.25 pixel_height=0.25 voxel_depth=1 unit=micron");
setThreshold(255, 255);
run("Set Measurements...", "area centroid perimeter fit decimal=3");
run("Analyze Particles...", "size=2-60 show=[Count Masks] display clear add");
saveAs("Results", outputDir + "/results.csv");
roiManager("Save", outputDir + "/rois.zip");
saveAs("Tiff", outputDir + "/labels.tif");
