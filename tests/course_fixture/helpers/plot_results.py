"""A CPython helper of the course: plots the saved results (not an ImageJ activity)."""
import sys

import numpy as np
import pandas as pd

table = pd.read_csv(sys.argv[1], sep="\t")
print(np.mean(table["Area"]))
