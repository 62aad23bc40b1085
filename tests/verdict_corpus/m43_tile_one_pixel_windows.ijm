setBatchMode(false);
for (i = 0; i < 3; i++)
    newImage("px" + i, "8-bit white", 1, 1, 1);
run("Tile");
print(nImages + " tiny windows tiled");
