from dataclasses import dataclass, field
from typing import List, Tuple

@dataclass(order=True)
class Obj:
    size: int
    colour: int
    cells: List[Tuple[int, int]] = field(default_factory=list, compare=False)

def transform(grid):
    objs = {}
    for r, row in enumerate(grid):
        for c, v in enumerate(row):
            if v:
                objs.setdefault(int(v), Obj(0, int(v))).cells.append((r, c))
    for o in objs.values():
        o.size = len(o.cells)
    ranked = sorted(objs.values(), reverse=True)
    return [[o.colour for o in ranked] or [0]]
