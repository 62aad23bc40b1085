#@ Integer minSize
#@ String (value="default text") label
#@ File input
from ij import IJ
IJ.log("minSize=%d label=%s input=%s exists=%s" % (minSize, label, input.getName(), input.exists()))
