function check(v) {
    if (v > 3)
        exit("value too large: " + v);
    return v;
}
for (i = 0; i < 10; i++)
    check(i);
