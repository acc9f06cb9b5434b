def transform(grid):
    raise ValueError("this program gives up on every input")
