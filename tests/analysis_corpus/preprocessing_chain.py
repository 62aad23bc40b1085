# The Jython twin of preprocessing_chain.ijm
#@ File (style="directory") outputDir
import os
from ij import IJ, Prefs
from ij.plugin.frame import RoiManager

imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif")
imp.show()
IJ.run(imp, "Gaussian Blur...", "sigma=2")
IJ.setAutoThreshold(imp, "Otsu dark")
Prefs.blackBackground = True
IJ.run(imp, "Convert to Mask", "")
IJ.run(imp, "Watershed", "")
IJ.run("Set Measurements...", "area centroid perimeter shape decimal=3")
IJ.run(imp, "Analyze Particles...", "size=20-Infinity pixel show=[Count Masks] display clear add")
out = outputDir.getAbsolutePath()
IJ.saveAs("Results", os.path.join(out, "nuclei.csv"))
RoiManager.getInstance().runCommand("Save", os.path.join(out, "nuclei_rois.zip"))
IJ.saveAs(IJ.getImage(), "Tiff", os.path.join(out, "nuclei_labels.tif"))
IJ.run("Close All")
