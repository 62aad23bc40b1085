print("before exit");
newImage("e", "8-bit black", 8, 8, 1);
exit;
print("never printed");
