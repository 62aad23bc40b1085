from ij import IJ
from java.lang import System
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary__nuclei.tif")
imp.show()
IJ.run(imp, "Invert", "")
System.exit(0)
print("not reached")
