from ij import IJ
i = 0
while True:
    i += 1
