from ij import IJ
input = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif"
outputDir = "FIXME"
imp = IJ.openImage(input)
imp.show()
IJ.setThreshold(imp, 1, 255)
IJ.run("Set Measurements...", "area centroid redirect=None decimal=3")
IJ.run(imp, "Analyze Particles...", "size=0-Infinity pixel display clear")
IJ.saveAs("Results", outputDir + "/results.csv")
