// Smoothing: the result is the image left open
open("images/xy_8bit__mitocheck_incenp_t1.tif");
run("Gaussian Blur...", "sigma=1.5");
