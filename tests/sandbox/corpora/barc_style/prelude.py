"""A helper library in the style BARC's models expect (`from common import *`), written for
these tests: object finding and cropping on numpy grids, with scipy.ndimage imported lazily
inside the helpers (as such libraries do)."""
import random

import numpy as np

BLACK, BLUE, RED, GREEN, YELLOW, GREY, PINK, ORANGE, TEAL, MAROON = range(10)


class Color:
    BLACK, BLUE, RED, GREEN, YELLOW, GREY, PINK, ORANGE, TEAL, MAROON = range(10)
    ALL_COLORS = list(range(10))
    NOT_BLACK = list(range(1, 10))


def find_connected_components(grid, background=BLACK, connectivity=4, monochromatic=True):
    """Objects as full-size grids (background elsewhere), in scan order of their first cell."""
    from scipy.ndimage import label

    structure = np.ones((3, 3), int) if connectivity == 8 else None
    masks = []
    if monochromatic:
        for colour in np.unique(grid):
            if colour == background:
                continue
            labels, n = label(grid == colour, structure)
            masks += [labels == i for i in range(1, n + 1)]
    else:
        labels, n = label(grid != background, structure)
        masks = [labels == i for i in range(1, n + 1)]
    masks.sort(key=lambda m: tuple(np.argwhere(m)[0]))
    return [np.where(m, grid, background) for m in masks]


def bounding_box(grid, background=BLACK):
    """(x, y, width, height) of the non-background cells."""
    pts = np.argwhere(grid != background)
    if len(pts) == 0:
        return 0, 0, 0, 0
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1)


def crop(grid, background=BLACK):
    x, y, w, h = bounding_box(grid, background)
    return grid[x:x + w, y:y + h]


def fill_holes(grid, colour, background=BLACK):
    """Colour the enclosed background cells of every object."""
    from scipy.ndimage import binary_fill_holes

    out = grid.copy()
    out[binary_fill_holes(grid != background) & (grid == background)] = colour
    return out


def blit_sprite(grid, sprite, x, y, background=BLACK):
    for i in range(sprite.shape[0]):
        for j in range(sprite.shape[1]):
            if sprite[i, j] != background and 0 <= x + i < grid.shape[0] and 0 <= y + j < grid.shape[1]:
                grid[x + i, y + j] = sprite[i, j]
    return grid


def object_colors(obj, background=BLACK):
    return [int(c) for c in np.unique(obj) if c != background]


def is_contiguous(mask, connectivity=4):
    from scipy.ndimage import label

    _, n = label(mask, np.ones((3, 3), int) if connectivity == 8 else None)
    return n == 1


def random_colour(rng=random, exclude=()):
    return rng.choice([c for c in Color.NOT_BLACK if c not in exclude])
