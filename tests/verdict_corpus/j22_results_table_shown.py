from ij import IJ
from ij.measure import ResultsTable
rt = ResultsTable()
for i in range(5):
    rt.incrementCounter()
    rt.addValue("index", i)
    rt.addValue("square", i * i)
rt.show("Squares")
print("table with %d rows left open" % rt.size())
