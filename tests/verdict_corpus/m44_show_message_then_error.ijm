newImage("m", "8-bit black", 16, 16, 1);
showMessage("Note", "About to measure");
run("Measure");
v = getResult("Mean", 5);
