import numpy as np

def transform(grid):
    colors, counts = np.unique(grid[grid != 0], return_counts=True)
    if len(colors) == 0:
        return grid
    return np.full_like(grid, colors[np.argmax(counts)])
