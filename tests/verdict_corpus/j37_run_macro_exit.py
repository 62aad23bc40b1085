from ij import IJ
IJ.createImage("before", "8-bit black", 8, 8, 1).show()
IJ.runMacro('exit("stopped inside the macro");')
print("after the macro")
