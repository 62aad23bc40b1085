from ij import IJ
imp = IJ.createImage("x", "8-bit", 1, 1, 1)
imp.show()
print("1x1 mean %.1f" % imp.getStatistics().mean)
