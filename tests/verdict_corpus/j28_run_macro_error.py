from ij import IJ
IJ.createImage("m", "8-bit black", 8, 8, 1).show()
IJ.runMacro("print(notDefinedInTheMacro);")
print("after the macro")
