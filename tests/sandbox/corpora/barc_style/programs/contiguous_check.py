from common import *
import numpy as np

def transform(input_grid):
    out = input_grid.copy()
    for colour in object_colors(input_grid):
        if not is_contiguous(input_grid == colour):
            out[input_grid == colour] = Color.GREY
    return out
