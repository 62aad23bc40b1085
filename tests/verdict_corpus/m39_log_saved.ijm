outputDir = FIXME
print("first log line");
print("second log line");
selectWindow("Log");
saveAs("Text", outputDir + "log.txt");
