#@ File (label="Your own image") ownImage
open(ownImage);
