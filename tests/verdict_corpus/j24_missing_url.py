from ij import IJ
imp = IJ.openImage("https://zenodo.org/record/7654321/files/never_downloaded.tif")
print(imp.getTitle())
