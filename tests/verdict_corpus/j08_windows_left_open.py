from ij import IJ, WindowManager
for i, kind in enumerate(["8-bit ramp", "16-bit black", "32-bit ramp", "RGB white"]):
    IJ.createImage("window %d" % i, kind, 40, 30, 1).show()
print("%d windows open" % WindowManager.getImageCount())
