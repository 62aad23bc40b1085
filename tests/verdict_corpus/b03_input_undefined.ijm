input = "https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_binary_randomshapes.tif";
outputDir = FIXME
open(input);
getStatistics(area, mean);
function ratio(m) {
    return m / maxMean;
}
print(ratio(mean));
