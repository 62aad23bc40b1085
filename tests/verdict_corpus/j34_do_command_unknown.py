# IJ.doCommand runs the command in a thread of its own
from ij import IJ
imp = IJ.createImage("shapes", "8-bit black", 64, 64, 1)
imp.show()
IJ.doCommand("Connected Components Labeling")
print("asked for labels")
