img = imread('x.tif');
