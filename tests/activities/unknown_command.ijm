newImage("blank", "8-bit black", 64, 64, 1);
run("Morphological Segmentation Deluxe");
print("not reached");
