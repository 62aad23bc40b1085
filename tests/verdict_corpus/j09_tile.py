from ij import IJ, WindowManager
for name in ["left", "middle", "right"]:
    IJ.createImage(name, "8-bit ramp", 80, 60, 1).show()
IJ.run("Tile")
print("%d images tiled" % WindowManager.getImageCount())
