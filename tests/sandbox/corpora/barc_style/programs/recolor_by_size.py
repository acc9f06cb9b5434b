from common import *
import numpy as np

def transform(input_grid):
    out = np.zeros_like(input_grid)
    for obj in find_connected_components(input_grid, connectivity=8):
        size = int(np.sum(obj != Color.BLACK))
        out[obj != Color.BLACK] = Color.BLUE if size == 1 else Color.RED if size < 4 else Color.GREEN
    return out
