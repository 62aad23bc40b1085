from ij import IJ

def measure(imp):
    stats = imp.getStatistics()
    return stats.mean / scale_factor

def process(title):
    imp = IJ.createImage(title, "8-bit ramp", 32, 32, 1)
    imp.show()
    return measure(imp)

for t in ["first", "second"]:
    print(process(t))
