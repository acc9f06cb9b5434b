from common import *
import numpy as np

def transform(input_grid):
    sprites = [crop(o) for o in find_connected_components(input_grid, connectivity=8, monochromatic=False)]
    if not sprites:
        return input_grid
    width = max(s.shape[1] for s in sprites)
    height = min(sum(s.shape[0] for s in sprites), 30)
    out = np.zeros((height, width), dtype=int)
    row = 0
    for s in sprites:
        if row + s.shape[0] > 30:
            break
        blit_sprite(out, s, row, 0)
        row += s.shape[0]
    return out
