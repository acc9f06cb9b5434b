def transform(grid):
    return [[grid[100][100]]]
