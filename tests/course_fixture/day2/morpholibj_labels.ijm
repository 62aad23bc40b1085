// Label the particles with MorphoLibJ (Fiji update site IJPB-plugins)
newImage("shapes", "8-bit black", 64, 64, 1);
makeRectangle(10, 10, 20, 20);
run("Set...", "value=255");
run("Connected Components Labeling", "connectivity=4 type=[16 bits]");
print("labelled");
