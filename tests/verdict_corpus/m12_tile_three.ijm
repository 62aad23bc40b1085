newImage("a", "8-bit ramp", 64, 64, 1);
newImage("b", "8-bit black", 64, 64, 1);
newImage("c", "8-bit white", 64, 64, 1);
run("Tile");
print("tiled " + nImages);
