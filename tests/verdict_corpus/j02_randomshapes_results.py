from ij import IJ
from ij.measure import ResultsTable

outputDir = "FIXME"
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif")
IJ.setThreshold(imp, 1, 255)
IJ.run("Set Measurements...", "area centroid redirect=None decimal=3")
IJ.run(imp, "Analyze Particles...", "size=0-Infinity pixel display clear")
rt = ResultsTable.getResultsTable()
rt.save(outputDir + "/shapes.csv")
print("%d shapes" % rt.size())
