import random

def transform(grid):
    cells = [v for row in grid for v in row]
    random.shuffle(cells)
    w = len(grid[0])
    return [[int(v) for v in cells[i:i + w]] for i in range(0, len(cells), w)]
