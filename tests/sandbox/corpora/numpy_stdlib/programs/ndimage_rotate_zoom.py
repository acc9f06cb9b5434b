import numpy as np
from scipy import ndimage

def transform(grid):
    small = grid[:4, :4]
    big = ndimage.zoom(small, 2, order=0)
    return ndimage.rotate(big, 90, order=0, reshape=True)
