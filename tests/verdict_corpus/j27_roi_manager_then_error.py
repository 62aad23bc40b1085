from ij import IJ
from ij.gui import Roi
from ij.plugin.frame import RoiManager
imp = IJ.createImage("rois", "8-bit black", 64, 64, 1)
imp.show()
rm = RoiManager()
rm.reset()
for i in range(3):
    rm.addRoi(Roi(i * 10, i * 10, 8, 8))
print(rm.getCount())
rm.select(10)
print(rm.getRoi(10).getBounds().width)
