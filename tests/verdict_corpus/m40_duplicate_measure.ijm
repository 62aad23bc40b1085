open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__mitocheck_incenp_t1.tif");
makeRectangle(10, 10, 50, 50);
run("Duplicate...", "title=crop");
run("Measure");
print(getTitle() + " " + getResult("Mean", 0));
