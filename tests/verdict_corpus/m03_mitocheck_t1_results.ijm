// Mitocheck frame 1: Huang threshold, results table only
outputDir = FIXME
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__mitocheck_incenp_t1.tif");
setAutoThreshold("Huang dark");
run("Set Measurements...", "area mean redirect=None decimal=2");
run("Analyze Particles...", "size=5-Infinity pixel display clear");
print(nResults + " objects");
saveAs("Results", outputDir + "t1_results.csv");
