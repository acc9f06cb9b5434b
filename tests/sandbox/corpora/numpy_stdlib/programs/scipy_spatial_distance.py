import numpy as np
from scipy.spatial import distance

def transform(grid):
    pts = np.argwhere(grid != 0)
    if len(pts) < 2:
        return grid
    d = distance.cdist(pts, pts, "cityblock")
    i, j = np.unravel_index(np.argmax(d), d.shape)
    out = grid.copy()
    out[tuple(pts[i])] = 1
    out[tuple(pts[j])] = 2
    return out
