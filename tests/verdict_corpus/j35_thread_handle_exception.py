# a Java exception reported to ImageJ by a background thread
from ij import IJ
from java.lang import Thread, Runnable, IllegalStateException

class Worker(Runnable):
    def run(self):
        IJ.handleException(IllegalStateException("background measurement failed"))

IJ.createImage("bg", "8-bit ramp", 32, 32, 1).show()
Thread(Worker()).start()
print("started the worker")
