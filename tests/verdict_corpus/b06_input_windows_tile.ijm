input = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif";
outputDir = FIXME
open(input);
run("Duplicate...", "title=copy1");
run("Duplicate...", "title=copy2");
run("Tile");
print(nImages + " windows");
