// Arithmetic in the Log
a = 6;
b = 7;
print("the answer is " + a * b);
print("done in " + getTime() % 1000 + " ms");
