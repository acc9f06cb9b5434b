import re

def transform(grid):
    text = "\n".join("".join(str(v) for v in row) for row in grid)
    text = re.sub(r"(?<=[1-9])0(?=[1-9])", "5", text)
    return [[int(ch) for ch in line] for line in text.splitlines()]
