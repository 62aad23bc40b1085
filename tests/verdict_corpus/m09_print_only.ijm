print("hello");
for (i = 0; i < 5; i++)
    print("line " + i);
print("\\Clear");
print("after clear");
