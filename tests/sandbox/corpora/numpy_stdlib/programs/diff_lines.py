import numpy as np

def transform(grid):
    d = np.abs(np.diff(grid, axis=1))
    return (d > 0).astype(np.int8) * 3
