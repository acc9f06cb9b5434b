import numpy as np

def transform(grid):
    out = grid.copy()
    out[np.isin(grid, [1, 2, 3])] = 5
    return out
