#@ Integer minSize
#@ String (value="default text") label
#@ Float scale
print("minSize=" + minSize + " label=" + label + " scale=" + scale + " arg=" + getArgument());
