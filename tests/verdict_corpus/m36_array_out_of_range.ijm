values = newArray(1, 2, 3);
sum = 0;
for (i = 0; i <= values.length; i++)
    sum += values[i];
print(sum);
