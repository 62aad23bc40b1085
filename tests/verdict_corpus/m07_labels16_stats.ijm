open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_16bit_labels__nuclei.tif");
getStatistics(area, mean, min, max);
print("bitDepth " + bitDepth() + ", labels up to " + max);
