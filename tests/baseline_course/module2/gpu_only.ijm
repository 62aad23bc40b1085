run("CLIJ2 Macro Extensions", "cl_device=");
