from ij import IJ
IJ.run("Blobs (25K)")
imp = IJ.getImage()
IJ.setAutoThreshold(imp, "Default")
IJ.run(imp, "Analyze Particles...", "size=20-Infinity pixel clear summarize")
print("%s %dx%d" % (imp.getTitle(), imp.getWidth(), imp.getHeight()))
