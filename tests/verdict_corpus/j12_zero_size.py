from ij import IJ
imp = IJ.createImage("empty", "8-bit black", 0, 0, 1)
imp.show()
print(imp.getWidth())
