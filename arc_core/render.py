"""Render grids and tasks: terminal text (ANSI colours or plain digits), SVG and PNG.

- Text: `render_grid` / `render_task` with style "ansi" (24-bit background colours in the standard
  ARC palette, two character cells per grid cell) or "plain" (one digit per cell).
  `default_style(stream)` picks "ansi" only for a TTY and when NO_COLOR is unset.
- SVG (for HTML reports): `grid_svg` / `task_svg`. Compact: one background <rect> per grid in its
  most common colour, one <rect> per horizontal run of any other colour, one <path> for the lines.
- PNG: `grid_png` / `task_png` return PNG bytes, encoded with zlib + struct from the standard
  library (no imaging dependency). PNGs carry no text; SVGs label each grid.

Test outputs appear only when the caller passes them (`solutions=`); `show` does so on --reveal.
"""
from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO
from xml.sax.saxutils import escape

import numpy as np

from arc_core.grid import Grid
from arc_core.task import Task

# The standard ARC palette (as in the ARC testing interface), colour index -> "#RRGGBB".
PALETTE: tuple[str, ...] = (
    "#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00",
    "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25",
)
_RGB = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in PALETTE], dtype=np.uint8)
_LINE = "#555555"
_LINE_RGB = np.array([85, 85, 85], dtype=np.uint8)
_BG_RGB = np.array([255, 255, 255], dtype=np.uint8)
STYLES = ("ansi", "plain")


def default_style(stream: TextIO) -> str:
    """"ansi" for an interactive terminal (unless NO_COLOR is set), else "plain"."""
    isatty = getattr(stream, "isatty", lambda: False)()
    return "ansi" if isatty and not os.environ.get("NO_COLOR") else "plain"


# ---- terminal text ------------------------------------------------------------------------------


def grid_lines(grid: Grid, style: str = "plain") -> list[str]:
    """One string per row. Visible width: grid.width (plain) or 2 * grid.width (ansi)."""
    if style == "plain":
        return str(grid).split("\n")
    if style == "ansi":
        codes = [f"\x1b[48;2;{r};{g};{b}m  " for r, g, b in _RGB.tolist()]
        return ["".join(codes[v] for v in row) + "\x1b[0m" for row in grid.rows]
    raise ValueError(f"unknown render style {style!r}; use one of {', '.join(STYLES)}")


def render_grid(grid: Grid, style: str = "plain") -> str:
    return "\n".join(grid_lines(grid, style))


def _side_by_side(left: Grid, right: Grid | None, style: str, gap: str = "  ->  ") -> list[str]:
    scale = 2 if style == "ansi" else 1
    a = grid_lines(left, style)
    b = grid_lines(right, style) if right is not None else ["?"]
    pad = " " * (left.width * scale)
    blank_gap = " " * len(gap)
    lines = []
    for i in range(max(len(a), len(b))):
        la = a[i] if i < len(a) else pad
        lb = b[i] if i < len(b) else ""
        lines.append((la + (gap if i == 0 else blank_gap) + lb).rstrip())
    return lines


def _shape(g: Grid) -> str:
    return f"{g.height}x{g.width}"


def render_task(task: Task, solutions: Sequence[Grid] | None = None, style: str = "plain") -> str:
    """Demonstrations side by side (input -> output), then test inputs (outputs only if given)."""
    if solutions is not None and len(solutions) != task.n_test:
        raise ValueError(f"task {task.id}: {len(solutions)} solutions for {task.n_test} test inputs")
    out = [f"task {task.id}: {len(task.train)} demonstration(s), {task.n_test} test input(s)"]
    for i, p in enumerate(task.train):
        out += ["", f"train[{i}]  {_shape(p.input)} -> {_shape(p.output)}"]
        out += _side_by_side(p.input, p.output, style)
    for i, g in enumerate(task.test_inputs):
        answer = solutions[i] if solutions is not None else None
        shape = _shape(answer) if answer is not None else "?"
        out += ["", f"test[{i}]  {_shape(g)} -> {shape}"]
        out += _side_by_side(g, answer, style)
    return "\n".join(out)


# ---- layout shared by SVG and PNG ---------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    x: int
    y: int
    grid: Grid | None  # None: an unknown answer, drawn as an empty frame
    label: str


def _task_layout(task: Task, solutions: Sequence[Grid] | None, cell: int, label_h: int) -> tuple[list[_Placed], int, int]:
    """Place each pair as a row: input at the left, output in an aligned second column."""
    pad, gap = cell, 2 * cell
    rows: list[tuple[Grid, Grid | None, str, str]] = [
        (p.input, p.output, f"train {i + 1} in {_shape(p.input)}", f"out {_shape(p.output)}")
        for i, p in enumerate(task.train)
    ]
    for i, g in enumerate(task.test_inputs):
        ans = solutions[i] if solutions is not None else None
        rows.append((g, ans, f"test {i + 1} in {_shape(g)}", f"out {_shape(ans)}" if ans else "out ?"))
    in_w = max(r[0].width for r in rows) * cell
    x_out = pad + max(in_w, 7 * label_h) + gap
    placed, y, width = [], pad, 0
    for inp, outp, l_in, l_out in rows:
        placed.append(_Placed(pad, y + label_h, inp, l_in))
        placed.append(_Placed(x_out, y + label_h, outp, l_out))
        out_w = (outp.width if outp else 3) * cell
        width = max(width, x_out + out_w + pad)
        h = max(inp.height, outp.height if outp else 3) * cell
        y += label_h + h + gap
    return placed, width, y - gap + pad


# ---- SVG ----------------------------------------------------------------------------------------


def _svg_grid_body(grid: Grid, x: int, y: int, cell: int) -> list[str]:
    a = grid.to_array()
    h, w = a.shape
    bg = int(np.bincount(a.ravel(), minlength=10).argmax())
    parts = [f'<rect x="{x}" y="{y}" width="{w * cell}" height="{h * cell}" fill="{PALETTE[bg]}"/>']
    for r in range(h):
        c = 0
        while c < w:
            v = a[r, c]
            end = c + 1
            while end < w and a[r, end] == v:
                end += 1
            if v != bg:
                parts.append(
                    f'<rect x="{x + c * cell}" y="{y + r * cell}" width="{(end - c) * cell}" '
                    f'height="{cell}" fill="{PALETTE[v]}"/>'
                )
            c = end
    lines = [f"M{x} {y + r * cell}h{w * cell}" for r in range(h + 1)]
    lines += [f"M{x + c * cell} {y}v{h * cell}" for c in range(w + 1)]
    parts.append(f'<path d="{"".join(lines)}" stroke="{_LINE}" stroke-width="0.5" fill="none"/>')
    return parts


def _svg(width: int, height: int, body: list[str]) -> str:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    )
    return head + "".join(body) + "</svg>"


def grid_svg(grid: Grid, cell: int = 12) -> str:
    """A standalone SVG image of one grid."""
    return _svg(grid.width * cell, grid.height * cell, _svg_grid_body(grid, 0, 0, cell))


def task_svg(task: Task, solutions: Sequence[Grid] | None = None, cell: int = 12) -> str:
    """An SVG of the whole task, each grid labelled; unknown test outputs drawn as '?' frames."""
    label_h = 14
    placed, width, height = _task_layout(task, solutions, cell, label_h)
    body = [f'<rect width="{width}" height="{height}" fill="#ffffff"/>']
    body.append(f'<g font-family="sans-serif" font-size="{label_h - 3}" fill="#333333">')
    for p in placed:
        body.append(f'<text x="{p.x}" y="{p.y - 4}">{escape(p.label)}</text>')
    body.append("</g>")
    for p in placed:
        if p.grid is not None:
            body += _svg_grid_body(p.grid, p.x, p.y, cell)
        else:
            s = 3 * cell
            body.append(f'<rect x="{p.x}" y="{p.y}" width="{s}" height="{s}" fill="none" stroke="{_LINE}" stroke-dasharray="3"/>')
    return _svg(width, height, body)


# ---- PNG ----------------------------------------------------------------------------------------


def _grid_pixels(grid: Grid, cell: int) -> np.ndarray:
    """(h*cell+1, w*cell+1, 3) uint8: cells in palette colours with 1-pixel grid lines."""
    a = grid.to_array()
    px = _RGB[a].repeat(cell, axis=0).repeat(cell, axis=1)
    h, w = px.shape[:2]
    out = np.empty((h + 1, w + 1, 3), dtype=np.uint8)
    out[:h, :w] = px
    out[::cell, :] = _LINE_RGB
    out[:, ::cell] = _LINE_RGB
    return out


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode an (h, w, 3) uint8 RGB array as PNG bytes (8-bit truecolour, no filtering)."""
    assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype == np.uint8, pixels.shape
    h, w = pixels.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), pixels.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def grid_png(grid: Grid, cell: int = 16) -> bytes:
    """PNG bytes of one grid."""
    return encode_png(_grid_pixels(grid, cell))


def task_png(task: Task, solutions: Sequence[Grid] | None = None, cell: int = 16) -> bytes:
    """PNG bytes of the whole task, laid out like `task_svg` (unknown outputs as empty frames)."""
    placed, width, height = _task_layout(task, solutions, cell, label_h=cell // 2)
    canvas = np.empty((height + 1, width + 1, 3), dtype=np.uint8)
    canvas[:] = _BG_RGB
    for p in placed:
        if p.grid is not None:
            px = _grid_pixels(p.grid, cell)
        else:
            s = 3 * cell
            px = np.empty((s + 1, s + 1, 3), dtype=np.uint8)
            px[:] = _BG_RGB
            px[[0, -1], :] = _LINE_RGB
            px[:, [0, -1]] = _LINE_RGB
        canvas[p.y:p.y + px.shape[0], p.x:p.x + px.shape[1]] = px
    return encode_png(canvas)
