from ij import IJ
from java.util import ArrayList
a = IJ.createImage("a", "8-bit black", 32, 32, 1)
a.show()
b = IJ.createImage("b", "8-bit white", 32, 32, 1)
b.show()
items = ArrayList()
items.get(3)
