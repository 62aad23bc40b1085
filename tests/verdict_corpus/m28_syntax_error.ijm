newImage("s", "8-bit black", 8, 8, 1);
a = 4;
b = (a * ;
print(b);
