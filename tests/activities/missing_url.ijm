open("https://example.org/data/not_in_the_data_dir.tif");
print("not reached");
