print("making an empty image");
newImage("z", "8-bit black", 0, 0, 1);
print(getWidth());
