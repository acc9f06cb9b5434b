from itertools import product
import numpy as np

def transform(grid):
    h, w = grid.shape
    out = np.zeros((h - 1, w - 1), dtype=int)
    for r, c in product(range(h - 1), range(w - 1)):
        block = grid[r:r + 2, c:c + 2]
        out[r, c] = 1 if (block != 0).all() else 0
    return out
