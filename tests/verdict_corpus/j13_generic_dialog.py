from ij import IJ
from ij.gui import GenericDialog
gd = GenericDialog("Settings")
gd.addNumericField("Radius", 2, 0)
gd.addChoice("Filter", ["Median...", "Mean..."], "Mean...")
gd.showDialog()
if gd.wasCanceled():
    raise SystemExit("cancelled")
radius = gd.getNextNumber()
flt = gd.getNextChoice()
imp = IJ.createImage("noise", "8-bit ramp", 64, 64, 1)
IJ.run(imp, flt, "radius=%d" % radius)
print("%s radius %d" % (flt, radius))
