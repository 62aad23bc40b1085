from ij import IJ, WindowManager
from ij.plugin.frame import RoiManager
outputDir = "FIXME"
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary__nuclei.tif")
imp.show()
rm = RoiManager()
rm.reset()
IJ.setThreshold(imp, 1, 255)
IJ.run("Set Measurements...", "area centroid bounding redirect=None decimal=3")
IJ.run(imp, "Analyze Particles...", "size=0-Infinity pixel show=[Count Masks] display clear add")
IJ.saveAs(WindowManager.getCurrentImage(), "Tiff", outputDir + "/count_masks.tif")
IJ.saveAs("Results", outputDir + "/count_results.csv")
rm.runCommand("Save", outputDir + "/count_rois.zip")
