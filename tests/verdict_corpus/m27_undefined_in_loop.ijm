newImage("loop", "8-bit ramp", 16, 16, 1);
for (i = 0; i < 3; i++) {
    if (i == 2)
        v = getPixel(1, 1) + counter;
    print(i);
}
