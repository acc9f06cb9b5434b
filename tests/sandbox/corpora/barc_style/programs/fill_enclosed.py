from common import *

def transform(input_grid):
    return fill_holes(input_grid, Color.YELLOW)
