from common import *
import numpy as np

def transform(input_grid):
    n = len(find_connected_components(input_grid, monochromatic=True))
    bar = np.zeros((1, max(n, 1)), dtype=int)
    bar[0, :n] = Color.TEAL
    return bar
