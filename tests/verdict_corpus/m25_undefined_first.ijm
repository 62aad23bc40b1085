print(undefinedThreshold);
newImage("never", "8-bit black", 8, 8, 1);
