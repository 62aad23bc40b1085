// Fiji's Auto Local Threshold (plain ImageJ lacks it)
open("https://github.com/NEUBIAS/training-resources/raw/master/image_data/xy_8bit__few_touching_nuclei.tif");
run("Auto Local Threshold", "method=Bernsen radius=15 parameter_1=0 parameter_2=0 white");
getStatistics(area, mean);
print("mean " + mean);
