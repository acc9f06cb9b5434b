import numpy as np

def transform(grid):
    small = grid[:3, :3]
    return np.kron(small != 0, small).astype(int)
