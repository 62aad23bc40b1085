newImage("x", "8-bit", 1, 1, 1);
getStatistics(area, mean);
print("1x1: area " + area + " mean " + mean);
