name = getString("Title of the new image", "learner");
newImage(name, "8-bit black", 16, 16, 1);
print(getTitle());
