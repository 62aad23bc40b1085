open("data/my_own_microscope_image.tif");
run("Measure");
