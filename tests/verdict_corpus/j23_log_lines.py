from ij import IJ
IJ.log("first")
IJ.log("second")
for i in range(3):
    print("printed %d" % i)
IJ.log("\\Clear")
IJ.log("after clear")
