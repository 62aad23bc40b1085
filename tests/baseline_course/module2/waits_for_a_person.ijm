// Loops until the learner closes the image: not for an unattended run
newImage("close me", "8-bit black", 32, 32, 1);
while (isOpen("close me")) wait(100);
