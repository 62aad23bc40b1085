newImage("e", "8-bit black", 8, 8, 1);
if (nImages > 0)
    exit("Stopping here: the learner's message");
print("never printed");
