import statistics
from fractions import Fraction

def transform(grid):
    flat = [int(v) for row in grid for v in row]
    m = statistics.mode(flat)
    share = Fraction(flat.count(m), len(flat))
    return [[m, share.numerator % 10, share.denominator % 10]]
