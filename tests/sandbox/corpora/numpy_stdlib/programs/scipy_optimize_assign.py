import numpy as np
from scipy.optimize import linear_sum_assignment

def transform(grid):
    sq = grid[:5, :5].astype(float)
    rows, cols = linear_sum_assignment(-sq)
    out = np.zeros((5, 5), int)
    out[rows, cols] = grid[:5, :5][rows, cols]
    return out
