from ij import IJ
input = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif"
outputDir = "FIXME"
imp = IJ.openImage(input)
imp.show()
if imp.getBitDepth() == 8:
    raise ValueError("expected a 16-bit image, got %d-bit" % imp.getBitDepth())
