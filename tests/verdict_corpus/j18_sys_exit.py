import sys
from ij import IJ
IJ.createImage("a", "8-bit black", 8, 8, 1).show()
sys.exit(1)
