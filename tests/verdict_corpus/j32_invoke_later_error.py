# an error dialog opened by the AWT event thread, just as the script ends
from ij import IJ
from java.awt import EventQueue
from java.lang import Runnable

class Later(Runnable):
    def run(self):
        IJ.error("Segmentation", "No nuclei found (reported from the event thread)")

IJ.createImage("cells", "8-bit black", 32, 32, 1).show()
EventQueue.invokeLater(Later())
