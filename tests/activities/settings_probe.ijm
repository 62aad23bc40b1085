// What the settings test reads of ImageJ's settings (tests/test_engine_settings.py): each line one setting
newImage("probe", "8-bit black", 20, 20, 1);
getPixelSize(unit, pw, ph);
print("scale=" + unit + " " + pw);
print("fg=" + call("ij.gui.Toolbar.getForegroundColor"));
print("bg=" + call("ij.gui.Toolbar.getBackgroundColor"));
print("line=" + call("ij.gui.Line.getWidth"));
print("scaling=" + call("ij.process.ImageConverter.getDoScaling"));
print("pref=" + call("ij.Prefs.get", "fijirun.test.key", "none"));
print("jpeg=" + call("ij.io.FileSaver.getJpegQuality"));
print("roi=" + call("ij.gui.Roi.getColor"));
print("paste=" + call("ij.gui.Roi.getCurrentPasteMode"));
makeRectangle(5, 5, 10, 10); setColor(255); fill(); run("Select None");
run("Erode"); getStatistics(a, mean); print("erode=" + mean);
close();
