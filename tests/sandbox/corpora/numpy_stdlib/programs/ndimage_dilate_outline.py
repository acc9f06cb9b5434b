import numpy as np
import scipy.ndimage

def transform(grid):
    mask = grid != 0
    ring = scipy.ndimage.binary_dilation(mask) & ~mask
    out = grid.copy()
    out[ring] = 2
    return out
