import numpy as np

def transform(grid):
    rows, cols = np.nonzero(grid)
    out = np.zeros((2, grid.shape[1]), dtype=np.int32)
    out[0] = np.count_nonzero(grid, axis=0) % 10
    out[1, np.unique(cols)] = 1
    return out
