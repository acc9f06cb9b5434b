from common import *
import numpy as np

def transform(input_grid):
    colours = sorted({c for o in find_connected_components(input_grid) for c in object_colors(o)})
    return np.array([colours or [Color.BLACK]])
