# The ParticleAnalyzer API with variables and summed flags (the course's Jython twin)
#@ File (style="directory") outputDir
import os
from ij import IJ
from ij.io import FileSaver
from ij.measure import Measurements, ResultsTable
from ij.plugin.filter import ParticleAnalyzer
from ij.plugin.frame import RoiManager

min_size, max_size = 10, 1000
IJ.run("Close All")
imp = IJ.openImage("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif")
IJ.setThreshold(imp, 255, 255)
results = ResultsTable()
manager = RoiManager(True)
ParticleAnalyzer.setRoiManager(manager)
pa = ParticleAnalyzer(ParticleAnalyzer.ADD_TO_MANAGER + ParticleAnalyzer.SHOW_ROI_MASKS,
                      Measurements.AREA + Measurements.CENTROID + Measurements.PERIMETER + Measurements.FERET,
                      results, min_size, max_size, 0, 1)
pa.setHideOutputImage(True)
pa.analyze(imp)
out = outputDir.getAbsolutePath()
results.save(os.path.join(out, "results.csv"))
manager.runCommand("Save", os.path.join(out, "rois.zip"))
FileSaver(pa.getOutputImage()).saveAsTiff(os.path.join(out, "labels.tif"))
