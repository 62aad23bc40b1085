from ij import IJ
imp = IJ.createImage("shown", "8-bit ramp", 64, 64, 1)
imp.show()
raise RuntimeError("the learner's check failed")
