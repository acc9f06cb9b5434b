from common import *
import numpy as np

def transform(input_grid):
    out = np.zeros_like(input_grid)
    for obj in find_connected_components(input_grid):
        x, y, w, h = bounding_box(obj)
        sprite = np.fliplr(crop(obj))
        blit_sprite(out, sprite, x, y)
    return out
