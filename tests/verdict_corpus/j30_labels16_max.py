from ij import IJ
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_16bit_labels__nuclei.tif")
imp.show()
print("max label %d" % imp.getStatistics().max)
