import sys
sys.setrecursionlimit(10000)

def fill(g, r, c, target, colour):
    if r < 0 or c < 0 or r >= len(g) or c >= len(g[0]) or g[r][c] != target:
        return
    g[r][c] = colour
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        fill(g, r + dr, c + dc, target, colour)

def transform(grid):
    g = [list(map(int, row)) for row in grid]
    h, w = len(g), len(g[0])
    for r in range(h):
        for c in (0, w - 1):
            if g[r][c] == 0:
                fill(g, r, c, 0, 9)
    for c in range(w):
        for r in (0, h - 1):
            if g[r][c] == 0:
                fill(g, r, c, 0, 9)
    return [[4 if v == 0 else (0 if v == 9 else v) for v in row] for row in g]
