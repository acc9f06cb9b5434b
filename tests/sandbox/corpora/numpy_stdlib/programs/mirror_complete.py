import numpy as np

def transform(grid):
    return np.maximum(grid, np.flipud(grid))
