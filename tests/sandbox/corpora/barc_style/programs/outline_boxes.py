from common import *
import numpy as np

def transform(input_grid):
    out = input_grid.copy()
    for obj in find_connected_components(input_grid, connectivity=8):
        x, y, w, h = bounding_box(obj)
        x0, y0, x1, y1 = max(x - 1, 0), max(y - 1, 0), min(x + w, out.shape[0] - 1), min(y + h, out.shape[1] - 1)
        for i in range(x0, x1 + 1):
            for j in (y0, y1):
                if out[i, j] == Color.BLACK:
                    out[i, j] = Color.ORANGE
        for j in range(y0, y1 + 1):
            for i in (x0, x1):
                if out[i, j] == Color.BLACK:
                    out[i, j] = Color.ORANGE
    return out
