#@ File (label="Input image") input
#@ File (label="Output folder", style="directory") outputDir
#@ Integer (label="Minimum particle size (pixels)", value=0) minSize
#@ Integer (label="Maximum particle size (pixels)", value=1000) maxSize

# Output saving, Jython twin of fiji_macros/output_saving.ijm: binarize an
# image, run Analyze Particles and save the results table (tab-delimited .txt
# and .csv), the ROI set (.zip) and the label mask (Count Masks, 16-bit .tif
# and .png), with ImageJ's Java API as course Jython scripts do.

import os

from ij import IJ, Prefs
from ij.io import FileSaver
from ij.measure import Measurements, ResultsTable
from ij.plugin.filter import Analyzer, ParticleAnalyzer
from ij.plugin.frame import RoiManager

imp = IJ.openImage(input.getAbsolutePath())
title = imp.getTitle()
base = os.path.splitext(title)[0]
out = outputDir.getAbsolutePath()

# binarize: foreground = every non-zero pixel, white on black
Prefs.blackBackground = True
IJ.setThreshold(imp, 1, 255)
IJ.run(imp, "Convert to Mask", "")

measurements = (Measurements.AREA | Measurements.CENTROID | Measurements.CENTER_OF_MASS
                | Measurements.PERIMETER | Measurements.RECT)
Analyzer.setPrecision(3)
table = ResultsTable()
manager = RoiManager.getInstance() or RoiManager()
manager.reset()
ParticleAnalyzer.setRoiManager(manager)
options = ParticleAnalyzer.SHOW_ROI_MASKS | ParticleAnalyzer.ADD_TO_MANAGER
analyzer = ParticleAnalyzer(options, measurements, table, minSize, maxSize)
analyzer.setHideOutputImage(True)
if not analyzer.analyze(imp):
    raise RuntimeError("Analyze Particles failed on " + title)

labels = analyzer.getOutputImage()
IJ.run(labels, "glasbey_on_dark", "")
FileSaver(labels).saveAsTiff(os.path.join(out, base + "_labels.tif"))
FileSaver(labels).saveAsPng(os.path.join(out, base + "_labels.png"))

table.save(os.path.join(out, base + "_results.txt"))
table.save(os.path.join(out, base + "_results.csv"))

if manager.getCount() > 0:
    manager.runCommand("Save", os.path.join(out, base + "_rois.zip"))
IJ.log("saved %d particles of %s" % (table.size(), title))
