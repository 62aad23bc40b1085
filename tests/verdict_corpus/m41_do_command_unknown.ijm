// doCommand runs the command in a separate thread
newImage("shapes", "8-bit black", 64, 64, 1);
doCommand("Connected Components Labeling");
print("asked for labels");
