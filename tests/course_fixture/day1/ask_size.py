# Jython: ask for the minimum particle size with a GenericDialog, then count particles
from ij import IJ
from ij.gui import GenericDialog, WaitForUserDialog
from ij.measure import ResultsTable
from ij.plugin.filter import ParticleAnalyzer

gd = GenericDialog("Particle size")
gd.addNumericField("Minimum size (pixels)", 20, 0)
gd.addCheckbox("Exclude edge particles", False)
gd.showDialog()
if gd.wasCanceled():
    raise SystemExit("cancelled")
min_size = gd.getNextNumber()
exclude = gd.getNextBoolean()

imp = IJ.createImage("spots", "8-bit black", 100, 100, 1)
for x, y in [(10, 10), (50, 50), (80, 20)]:
    imp.getProcessor().setValue(255)
    imp.getProcessor().fillOval(x, y, 8, 8)
WaitForUserDialog("Look at the spots", "then click OK").show()
IJ.setThreshold(imp, 128, 255)
rt = ResultsTable()
pa = ParticleAnalyzer(ParticleAnalyzer.EXCLUDE_EDGE_PARTICLES if exclude else 0,
                      ParticleAnalyzer.AREA, rt, min_size, float("inf"))
pa.analyze(imp)
print("%d particles of at least %d pixels" % (rt.size(), min_size))
if rt.size() != 3:
    raise RuntimeError("expected 3 particles")
