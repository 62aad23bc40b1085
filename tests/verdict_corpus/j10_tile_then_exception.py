from ij import IJ
for name in ["x1", "x2", "x3", "x4"]:
    IJ.createImage(name, "8-bit black", 50, 50, 1).show()
IJ.run("Tile")
raise ValueError("wrong number of windows")
