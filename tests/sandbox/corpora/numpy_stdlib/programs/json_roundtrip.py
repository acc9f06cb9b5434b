import json
import copy

def transform(grid):
    rows = json.loads(json.dumps([[int(v) for v in row] for row in grid]))
    out = copy.deepcopy(rows)
    for r in out:
        r.reverse()
    return out
