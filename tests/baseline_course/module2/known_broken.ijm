// A known mistake the course keeps on purpose (the exercise is to fix it)
x = ;
print(x);
