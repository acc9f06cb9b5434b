import numpy as np

def transform(grid):
    pts = np.argwhere(grid != 0)
    if len(pts) == 0:
        return grid
    (r0, c0), (r1, c1) = pts.min(axis=0), pts.max(axis=0)
    return grid[r0:r1 + 1, c0:c1 + 1]
