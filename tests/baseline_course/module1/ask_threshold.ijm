#@ Integer (label="Lower threshold") thr1
#@ File (label="Input image") inputImageFile
open(inputImageFile);
setThreshold(thr1 + 100, 255);
run("Measure");
print("threshold " + (thr1 + 100));
