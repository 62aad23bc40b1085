// MorphoLibJ labelling after some processing (needs IJPB-plugins)
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__mitocheck_incenp_t1.tif");
setAutoThreshold("Otsu dark");
setOption("BlackBackground", true);
run("Convert to Mask");
run("Connected Components Labeling", "connectivity=4 type=[16 bits]");
print("labelled");
