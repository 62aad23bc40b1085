from ij import IJ
n = IJ.getNumber("How many images?", 3)
for i in range(int(n)):
    IJ.createImage("img%d" % i, "8-bit black", 10, 10, 1)
print("made %d" % n)
