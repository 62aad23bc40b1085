from ij import IJ
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif")
imp.show()
IJ.run(imp, "Connected Components Labeling", "connectivity=4 type=[16 bits]")
print("labelled")
