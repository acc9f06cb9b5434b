import numpy as np
from scipy import stats

def transform(grid):
    m = stats.mode(grid, axis=0, keepdims=False).mode
    return np.vstack([m, m])
