import numpy as np

def transform(grid):
    return np.fliplr(np.rot90(grid, k=3))
