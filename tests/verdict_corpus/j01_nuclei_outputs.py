# Jython course template: binarize, count, save with the ROI Manager
from ij import IJ, WindowManager
from ij.plugin.frame import RoiManager

outputDir = "FIXME"

imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif")
imp.show()
IJ.setAutoThreshold(imp, "Otsu dark")
IJ.run(imp, "Convert to Mask", "")
rm = RoiManager()
rm.reset()
IJ.run("Set Measurements...", "area centroid perimeter bounding redirect=None decimal=3")
IJ.run(imp, "Analyze Particles...", "size=10-Infinity pixel show=[Count Masks] display clear add")
labels = WindowManager.getImage("Count Masks of " + imp.getTitle())
IJ.saveAs(labels, "Tiff", outputDir + "/labels.tif")
IJ.saveAs("Results", outputDir + "/results.csv")
rm.runCommand("Save", outputDir + "/rois.zip")
print("%d nuclei" % rm.getCount())
