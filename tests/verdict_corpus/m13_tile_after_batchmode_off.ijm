setBatchMode(false);
newImage("p", "8-bit ramp", 40, 40, 1);
newImage("q", "8-bit ramp", 40, 40, 1);
run("Tile");
selectImage("p");
getStatistics(area, mean);
print("mean " + mean);
