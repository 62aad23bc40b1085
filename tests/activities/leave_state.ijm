newImage("left", "8-bit black", 64, 64, 1);
makeRectangle(2, 2, 10, 10);
roiManager("add");
run("Measure");
print("left things behind");
