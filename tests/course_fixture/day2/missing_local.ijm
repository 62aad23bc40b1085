// Opens a course image by a relative path: the learner's copy is not in the repository
open("images/cells_from_the_microscope.tif");
run("Measure");
