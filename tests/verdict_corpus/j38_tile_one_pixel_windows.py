from ij import IJ
for i in range(3):
    IJ.createImage("px%d" % i, "8-bit white", 1, 1, 1).show()
IJ.run("Tile")
print("tiled 1x1 windows")
