def cells(grid):
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if v:
                yield r, c, int(v)

def transform(grid):
    items = sorted(cells(grid), key=lambda t: (t[2], -t[0], t[1]))
    out = [[0] * len(grid[0]) for _ in range(len(grid))]
    for i, (r, c, v) in enumerate(items):
        out[r][c] = (v + i) % 10
    return out
