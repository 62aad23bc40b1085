newImage("ramp", "8-bit ramp", 64, 64, 1);
for (i = 0; i < 4; i++) {
    makeRectangle(i * 16, 0, 16, 64);
    run("Measure");
}
print(nResults + " rows left in Results");
