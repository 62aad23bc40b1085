outputDir = getDirectory("temp");
newImage("ramp", "32-bit ramp", 64, 64, 1);
run("Add...", "value=0.5");
exit("Analysis Complete.\n\nResults saved to " + outputDir);
print("never printed");
