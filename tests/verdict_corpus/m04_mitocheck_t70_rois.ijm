outputDir = FIXME
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__mitocheck_incenp_t70.tif");
setAutoThreshold("Default dark");
run("Analyze Particles...", "size=5-Infinity pixel clear add");
n = roiManager("count");
print("ROIs: " + n);
if (n > 0)
    roiManager("save", outputDir + "t70_rois.zip");
