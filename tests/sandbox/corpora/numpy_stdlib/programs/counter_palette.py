from collections import Counter

def transform(grid):
    counts = Counter(int(v) for row in grid for v in row if v)
    ranked = [c for c, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return [ranked or [0]]
