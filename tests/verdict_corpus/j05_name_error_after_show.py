from ij import IJ
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__mitocheck_incenp_t70.tif")
imp.show()
IJ.run(imp, "Gaussian Blur...", "sigma=2")
print(thresold)
