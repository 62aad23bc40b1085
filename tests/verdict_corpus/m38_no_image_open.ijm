newImage("tmp", "8-bit black", 8, 8, 1);
close("*");
print(getTitle());
