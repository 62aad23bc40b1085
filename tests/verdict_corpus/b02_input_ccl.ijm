input = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif";
outputDir = FIXME
open(input);
run("Invert");
run("Invert");
run("Connected Components Labeling", "connectivity=4 type=[16 bits]");
saveAs("Tiff", outputDir + "ccl.tif");
