// save the Log
print("activity 2");
