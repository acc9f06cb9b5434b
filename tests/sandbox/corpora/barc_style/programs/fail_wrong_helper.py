from common import *

def transform(input_grid):
    return detect_symmetry_that_does_not_exist(input_grid)
