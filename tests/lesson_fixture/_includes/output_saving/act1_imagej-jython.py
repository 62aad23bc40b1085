# Jython: open, count, save the label mask
from ij import IJ
outputDir = FIXME
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif")
IJ.run(imp, "Analyze Particles...", "show=[Count Masks] display clear")
IJ.saveAs(IJ.getImage(), "Tiff", outputDir + "/labels.tif")
