// line 1
a = 1;
b = 2;
print(a);
print(b);
// line 6: the next line has a syntax error
c = (a + ;
print(c);
