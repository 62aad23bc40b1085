# an error dialog from the event thread while the script keeps working a little
from ij import IJ
from java.awt import EventQueue
from java.lang import Runnable

class Later(Runnable):
    def run(self):
        IJ.error("Threshold", "Threshold out of range (reported from the event thread)")

imp = IJ.createImage("ramp", "8-bit ramp", 256, 256, 1)
imp.show()
EventQueue.invokeLater(Later())
for i in range(5):
    IJ.run(imp, "Gaussian Blur...", "sigma=2")
print("blurred")
