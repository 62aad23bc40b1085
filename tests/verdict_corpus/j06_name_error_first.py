from ij import IJ
print(undefined_image_title)
IJ.createImage("never", "8-bit black", 8, 8, 1).show()
