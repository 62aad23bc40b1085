open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit_labels__nuclei.tif");
getHistogram(values, counts, 256);
n = 0;
for (i = 1; i < 256; i++)
    if (counts[i] > 0) n++;
print(n + " labels");
