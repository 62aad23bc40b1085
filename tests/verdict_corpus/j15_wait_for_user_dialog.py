from ij import IJ
from ij.gui import WaitForUserDialog
imp = IJ.createImage("look", "8-bit ramp", 40, 40, 1)
imp.show()
WaitForUserDialog("Draw a selection", "then click OK").show()
print("continued")
