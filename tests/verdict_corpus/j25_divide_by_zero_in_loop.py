from ij import IJ
imp = IJ.createImage("r", "8-bit ramp", 16, 16, 1)
ip = imp.getProcessor()
total = 0
for x in range(16):
    total += 100 / ip.getPixel(x, 0)
print(total)
