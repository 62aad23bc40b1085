from ij import IJ
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif")
IJ.run(imp, "Auto Local Threshold", "method=Bernsen radius=15 parameter_1=0 parameter_2=0 white")
print("mean after local threshold: %.2f" % imp.getStatistics().mean)
