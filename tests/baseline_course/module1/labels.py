# Jython: count the binary nuclei; the label image (Count Masks) stays open
from ij import IJ
imp = IJ.openImage("images/xy_8bit_binary__nuclei.tif")
IJ.setRawThreshold(imp, 128, 255, None)
IJ.run(imp, "Analyze Particles...", "show=[Count Masks] display clear")
masks = IJ.getImage()
masks.show()
print("labels: %d" % int(masks.getStatistics().max))
