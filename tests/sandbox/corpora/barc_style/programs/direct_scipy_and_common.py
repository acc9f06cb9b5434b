from common import *
from scipy.ndimage import label, binary_erosion
import numpy as np

def transform(input_grid):
    core = binary_erosion(input_grid != Color.BLACK)
    labels, n = label(core)
    out = input_grid.copy()
    out[core] = Color.MAROON
    return out
