import numpy as np

def transform(grid):
    small = grid[:3, :3]
    out = np.pad(small, ((1, 2), (2, 1)), mode="reflect")
    return np.pad(out, 1, mode="wrap")[:30, :30]
