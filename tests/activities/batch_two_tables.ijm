#@ File (label="Input image") input
#@ File (label="Output folder", style="directory") outputDir

// A batch script that saves two tables per image: the particles (Results)
// and Analyze Particles' Summary. Which one a batch combines is --table's choice.
open(input);
stem = File.getNameWithoutExtension(input);
setThreshold(1, 255);
run("Set Measurements...", "area redirect=None decimal=3");
run("Analyze Particles...", "display clear summarize");
Table.save(outputDir + File.separator + stem + "_results.csv", "Results");
Table.save(outputDir + File.separator + stem + "_summary.csv", "Summary");
