from collections import namedtuple
from enum import IntEnum

class Colour(IntEnum):
    BLACK = 0
    BLUE = 1
    RED = 2

Cell = namedtuple("Cell", "r c v")

def transform(grid):
    cells = [Cell(r, c, int(v)) for r, row in enumerate(grid) for c, v in enumerate(row)]
    out = [[Colour.BLACK] * len(grid[0]) for _ in grid]
    for cell in cells:
        out[cell.r][cell.c] = Colour.RED if cell.v == Colour.BLUE else cell.v
    return [[int(v) for v in row] for row in out]
