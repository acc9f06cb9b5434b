import numpy as np
from scipy.signal import convolve2d

def transform(grid):
    counts = convolve2d((grid != 0).astype(int), np.ones((3, 3), int), mode="same")
    return np.clip(counts, 0, 9)
