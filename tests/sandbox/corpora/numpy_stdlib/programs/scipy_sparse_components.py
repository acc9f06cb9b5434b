import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

def transform(grid):
    h, w = grid.shape
    idx = np.arange(h * w).reshape(h, w)
    a, b = [], []
    same = (grid[:, :-1] == grid[:, 1:]) & (grid[:, :-1] != 0)
    a += list(idx[:, :-1][same]); b += list(idx[:, 1:][same])
    same = (grid[:-1] == grid[1:]) & (grid[:-1] != 0)
    a += list(idx[:-1][same]); b += list(idx[1:][same])
    g = csr_matrix((np.ones(len(a)), (a, b)), shape=(h * w, h * w))
    n, labels = connected_components(g, directed=False)
    return (labels.reshape(h, w) % 10) * (grid != 0)
