outputDir = FIXME
newImage("dot", "8-bit white", 1, 1, 1);
setThreshold(128, 255);
run("Set Measurements...", "area centroid redirect=None decimal=3");
run("Analyze Particles...", "size=0-Infinity pixel display clear");
print(nResults + " particle");
saveAs("Results", outputDir + "dot.csv");
