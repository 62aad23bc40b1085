input = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif";
outputDir = FIXME
open(input);
if (bitDepth() == 8)
    exit("8-bit input: nothing to do");
