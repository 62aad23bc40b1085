run("Blobs (25K)");
print(getTitle() + " " + getWidth() + "x" + getHeight());
