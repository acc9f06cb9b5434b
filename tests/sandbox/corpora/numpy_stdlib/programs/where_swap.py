import numpy as np

def transform(grid):
    return np.where(grid == 1, 2, np.where(grid == 2, 1, grid))
