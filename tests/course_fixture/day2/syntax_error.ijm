// A learner's typo on line 4
newImage("a", "8-bit black", 32, 32, 1);
x = 3;
y = (x + ;
print(y);
