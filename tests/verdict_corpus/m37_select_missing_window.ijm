newImage("present", "8-bit black", 8, 8, 1);
selectWindow("absent");
print("not reached");
