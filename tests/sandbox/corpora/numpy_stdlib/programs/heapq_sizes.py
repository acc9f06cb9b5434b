import heapq
import numpy as np

def transform(grid):
    counts = np.bincount(grid.ravel(), minlength=10)
    top = heapq.nlargest(3, range(1, 10), key=lambda c: (counts[c], -c))
    return [[int(c) for c in top]]
