// prints what the previous run left behind
print("images=" + nImages + " rois=" + roiManager("count") + " results=" + nResults);
