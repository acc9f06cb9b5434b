from common import *
import random
import numpy as np

def transform(input_grid):
    out = input_grid.copy()
    for obj in find_connected_components(input_grid):
        out[obj != Color.BLACK] = random_colour(random, exclude=object_colors(obj))
    return out
