# IJ.run(imp, "Analyze Particles...", options) from Jython
#@ File (style="directory") outputDir
import os
from ij import IJ
from ij.plugin.frame import RoiManager

imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif")
IJ.setThreshold(imp, 1, 255)
IJ.run("Set Measurements...", "area mean centroid decimal=3")
IJ.run(imp, "Analyze Particles...", "size=15-Infinity pixel show=[Count Masks] display clear add")
out = outputDir.getAbsolutePath()
IJ.saveAs("Results", os.path.join(out, "results.csv"))
RoiManager.getInstance().runCommand("Save", os.path.join(out, "rois.zip"))
IJ.saveAs(IJ.getImage(), "Tiff", os.path.join(out, "labels.tif"))
