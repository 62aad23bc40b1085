function label(title) {
    selectImage(title);
    run("Connected Components Labeling", "connectivity=8 type=[8 bits]");
}
newImage("shapes", "8-bit black", 64, 64, 1);
makeOval(10, 10, 20, 20);
run("Set...", "value=255");
run("Select None");
label("shapes");
print("labelled");
