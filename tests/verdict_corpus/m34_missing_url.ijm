newImage("before", "8-bit black", 8, 8, 1);
open("https://zenodo.org/record/1234567/files/not_in_the_data_dir.tif");
print("not reached");
