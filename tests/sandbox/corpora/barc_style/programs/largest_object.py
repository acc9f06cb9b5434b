from common import *
import numpy as np

def transform(input_grid):
    objects = find_connected_components(input_grid, monochromatic=False)
    if not objects:
        return input_grid
    biggest = max(objects, key=lambda o: np.sum(o != Color.BLACK))
    return crop(biggest)
