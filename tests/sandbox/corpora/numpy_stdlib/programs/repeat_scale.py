import numpy as np

def transform(grid):
    small = grid[:5, :5]
    return np.repeat(np.repeat(small, 2, axis=0), 3, axis=1)
