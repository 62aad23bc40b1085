// File > Open Samples > Blobs, served from the data directory
run("Blobs (25K)");
setAutoThreshold("Default");
run("Set Measurements...", "area mean redirect=None decimal=3");
run("Analyze Particles...", "size=20-Infinity pixel display clear");
print("blobs: " + nResults);
