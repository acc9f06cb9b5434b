from collections import deque
import numpy as np

def components(grid):
    h, w = grid.shape
    seen = np.zeros((h, w), bool)
    comps = []
    for r in range(h):
        for c in range(w):
            if grid[r, c] and not seen[r, c]:
                q, comp = deque([(r, c)]), []
                seen[r, c] = True
                while q:
                    y, x = q.popleft()
                    comp.append((y, x))
                    for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                        if 0 <= ny < h and 0 <= nx < w and grid[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            q.append((ny, nx))
                comps.append(comp)
    return comps

def transform(grid):
    out = grid.copy()
    comps = components(grid)
    if comps:
        for y, x in max(comps, key=len):
            out[y, x] = 6
    return out
