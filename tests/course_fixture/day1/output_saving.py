# Course template (Jython): output saving with the ROI Manager and WindowManager
from ij import IJ, WindowManager
from ij.plugin.frame import RoiManager

outputDir = "FIXME"  # where to save

imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif")
imp.show()
rm = RoiManager()
rm.reset()
IJ.run("Set Measurements...", "area centroid perimeter bounding redirect=None decimal=3")
IJ.run(imp, "Analyze Particles...", "size=0-1000 pixel show=[Count Masks] display clear add")
labels = WindowManager.getImage("Count Masks of " + imp.getTitle())
IJ.run(labels, "Glasbey", "")
IJ.saveAs(labels, "Tiff", outputDir + "/labels.tif")
IJ.saveAs("Results", outputDir + "/results.txt")
rm.runCommand("Save", outputDir + "/rois.zip")
print("%d particles" % rm.getCount())
