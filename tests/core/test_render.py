"""Rendering: plain/ANSI text, SVG (parsed back) and PNG (decoded back with zlib)."""
from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from arc_core import render
from arc_core.datasets import load_dataset
from arc_core.grid import Grid
from arc_core.task import Pair, Task

SVG_NS = "{http://www.w3.org/2000/svg}"


def _task() -> tuple[Task, tuple[Grid, ...]]:
    g = Grid.parse([[1, 2, 0], [0, 0, 9]])
    task = Task("t<1>", (Pair(g, Grid.parse([[3]])),), (Grid.parse([[4, 4]]),))
    return task, (Grid.parse([[5], [6]]),)


def decode_png(data: bytes) -> np.ndarray:
    """Minimal PNG reader for what `encode_png` writes (8-bit RGB, filter type 0)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, ctype) == (8, 2) and b"IEND" in chunks
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert not raw[:, 0].any()  # filter byte 0 on every row
    return raw[:, 1:].reshape(h, w, 3)


def test_plain_grid_and_task_text():
    task, sols = _task()
    assert render.render_grid(task.train[0].input) == "120\n009"
    text = render.render_task(task)
    assert "task t<1>: 1 demonstration(s), 1 test input(s)" in text
    assert "120  ->  3" in text and "009" in text
    assert "test[0]  1x2 -> ?" in text and "44  ->  ?" in text
    assert "\x1b" not in text
    revealed = render.render_task(task, sols)
    assert "test[0]  1x2 -> 2x1" in revealed and "44  ->  5" in revealed and "\n        6" in revealed


def test_ansi_uses_palette_backgrounds():
    g = Grid.parse([[0, 1], [9, 4]])
    lines = render.grid_lines(g, "ansi")
    assert lines[0] == "\x1b[48;2;0;0;0m  \x1b[48;2;0;116;217m  \x1b[0m"
    assert "\x1b[48;2;135;12;37m" in lines[1] and lines[1].endswith("\x1b[0m")
    with pytest.raises(ValueError, match="unknown render style 'html'"):
        render.render_grid(g, "html")


def test_default_style_depends_on_tty(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert render.default_style(Tty()) == "ansi"
    assert render.default_style(io.StringIO()) == "plain"
    monkeypatch.setenv("NO_COLOR", "1")
    assert render.default_style(Tty()) == "plain"


def test_grid_svg_is_compact_and_exact():
    g = Grid.parse([[0, 0, 0, 2], [0, 2, 2, 0], [0, 0, 0, 0]])
    root = ET.fromstring(render.grid_svg(g, cell=10))
    assert root.tag == SVG_NS + "svg" and (root.get("width"), root.get("height")) == ("40", "30")
    rects = root.findall(SVG_NS + "rect")
    assert [r.get("fill") for r in rects] == ["#000000", "#FF4136", "#FF4136"]  # background + 2 runs
    assert (rects[2].get("x"), rects[2].get("y"), rects[2].get("width")) == ("10", "10", "20")
    assert len(root.findall(SVG_NS + "path")) == 1


def test_svg_rects_reconstruct_every_grid_of_a_task():
    """Paint the SVG rects back into an array: it must equal the grid, for a whole real task."""
    task = load_dataset("arc1/training").tasks["007bbfb7"]
    colour = {h: i for i, h in enumerate(render.PALETTE)}
    for g in task.all_grids():
        painted = np.full(g.shape, -1)
        for r in ET.fromstring(render.grid_svg(g, cell=1)).findall(SVG_NS + "rect"):
            x, y, w, h = (int(r.get(k)) for k in ("x", "y", "width", "height"))
            painted[y:y + h, x:x + w] = colour[r.get("fill")]
        assert np.array_equal(painted, g.to_array())


def test_task_svg_labels_and_hides_answers():
    task, sols = _task()
    hidden = render.task_svg(task)
    root = ET.fromstring(hidden)
    labels = [t.text for t in root.iter(SVG_NS + "text")]
    assert labels == ["train 1 in 2x3", "out 1x1", "test 1 in 1x2", "out ?"]
    assert "#F012BE" not in hidden  # colour 6 appears only in the hidden answer
    shown = render.task_svg(task, sols)
    assert "#F012BE" in shown and "out 2x1" in shown


def test_grid_png_pixels():
    g = Grid.parse([[0, 1], [2, 3], [9, 9]])
    px = decode_png(render.grid_png(g, cell=4))
    assert px.shape == (3 * 4 + 1, 2 * 4 + 1, 3)
    assert tuple(px[2, 2]) == (0, 0, 0) and tuple(px[2, 6]) == (0, 116, 217)
    assert tuple(px[6, 2]) == (255, 65, 54) and tuple(px[10, 6]) == (135, 12, 37)
    assert tuple(px[0, 0]) == tuple(px[4, 3]) == (85, 85, 85)  # grid lines


def test_task_png_shows_answers_only_when_given():
    task, sols = _task()
    hidden, shown = decode_png(render.task_png(task)), decode_png(render.task_png(task, sols))
    pink = np.array([240, 18, 190])
    assert not (hidden == pink).all(axis=2).any()
    assert (shown == pink).all(axis=2).any()


def test_render_task_checks_solution_count():
    task, sols = _task()
    with pytest.raises(ValueError, match="2 solutions for 1 test inputs"):
        render.render_task(task, sols * 2)
