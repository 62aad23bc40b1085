# an exception thrown on the event thread (not through ImageJ)
from ij import IJ
from java.awt import EventQueue
from java.lang import Runnable
from java.util import ArrayList

class Later(Runnable):
    def run(self):
        ArrayList().get(1)

IJ.createImage("edt", "8-bit black", 16, 16, 1).show()
EventQueue.invokeLater(Later())
print("queued")
