import numpy as np
import this_module_does_not_exist_anywhere

def transform(grid):
    return grid
