import numpy as np
import warnings

def transform(grid):
    with np.errstate(divide="warn", invalid="warn"):
        ratio = grid / grid.sum(axis=0, keepdims=True)
    warnings.warn("dividing colours", UserWarning)
    return (np.nan_to_num(ratio) * 9).astype(int)
