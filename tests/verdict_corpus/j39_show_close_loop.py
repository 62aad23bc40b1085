from ij import IJ
for i in range(15):
    imp = IJ.createImage("flash%d" % i, "8-bit ramp", 64, 64, 1)
    imp.show()
    if i % 2 == 0:
        imp.close()
IJ.run("Tile")
print("left half of them open")
