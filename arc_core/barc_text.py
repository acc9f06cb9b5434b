"""Text shared by BARC's published checkpoints (../shared/FORMATS.md §2 and §3).

Both the transduction and the induction checkpoint write grids as colour words (0 Black .. 9 Brown),
cells separated by one space and rows by newlines, and open the user turn with the same preamble.
The per-checkpoint layouts (where demos go, trailing newlines, the request) stay with their packages.
"""
from __future__ import annotations

from arc_core.grid import Grid

COLOUR_WORDS = ("Black", "Blue", "Red", "Green", "Yellow", "Gray", "Pink", "Orange", "Purple", "Brown")
WORD_TO_COLOUR = {w: i for i, w in enumerate(COLOUR_WORDS)}

USER_PREAMBLE = (
    "Given input-output grid pairs as reference examples, carefully observe the patterns to predict the "
    "output grid for new test input. Each pair follows the same transformation rule. Grids are 2D arrays "
    "represented as strings, with cells (colors) separated by spaces and rows by newlines.\n"
    "Here are the input and output grids for the reference examples:\n"
)


def grid_words(grid: Grid) -> str:
    """Colour words separated by spaces, one row per line, no trailing newline."""
    return "\n".join(" ".join(COLOUR_WORDS[v] for v in row) for row in grid.rows)
