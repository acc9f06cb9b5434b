import numpy as np

def transform(grid):
    values, inverse = np.unique(grid, return_inverse=True)
    ranks = np.searchsorted(values, values)
    return ranks[inverse].reshape(grid.shape) % 10
