import numpy as np

def transform(grid):
    m = grid.astype(float)
    rank = np.linalg.matrix_rank(m)
    det = round(abs(np.linalg.det(m[:2, :2])))
    return [[int(rank) % 10, int(det) % 10]]
