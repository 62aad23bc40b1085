// Opens a file that is neither in the course nor in the data directory
open("https://zenodo.org/record/0000000/files/not_in_any_data_dir.tif");
run("Measure");
