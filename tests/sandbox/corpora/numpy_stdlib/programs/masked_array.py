import numpy as np

def transform(grid):
    m = np.ma.masked_equal(grid, 0)
    col_max = m.max(axis=0).filled(0)
    return np.tile(col_max, (2, 1)).astype(int)
