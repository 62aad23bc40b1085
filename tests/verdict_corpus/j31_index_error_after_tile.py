from ij import IJ, WindowManager
for i in range(3):
    IJ.createImage("w%d" % i, "8-bit ramp", 30, 30, 1).show()
IJ.run("Tile")
ids = WindowManager.getIDList()
print(ids[5])
