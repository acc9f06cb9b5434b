import numpy as np

def transform(grid):
    rows, idx = np.unique(grid, axis=0, return_index=True)
    return grid[np.sort(idx)]
