import numpy as np

def transform(grid):
    hist, _ = np.histogram(grid, bins=5, range=(0, 10))
    return [list(np.clip(hist, 0, 9))]
