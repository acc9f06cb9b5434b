import numpy as np

def transform(grid):
    inner = grid[1:-1, 1:-1] if min(grid.shape) > 2 else grid
    return np.pad(inner, 1, mode="constant", constant_values=8)
