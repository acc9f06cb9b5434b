"""Shared CLI helpers: `safe_text` (no forged lines in text output) and `explicit_setting` (what
the user set, as opposed to defaults and presets: `--programs` imports only unless n_samples is set)."""
from __future__ import annotations

import pytest

from arc_core.cli import explicit_setting, safe_text


@pytest.mark.parametrize("raw,shown", [
    ("plain é 中 text", "plain é 中 text"),
    ("line\nverified", "line\\nverified"),
    ("\r\x1b[2K\x1b[32mverified", "\\r\\x1b[2K\\x1b[32mverified"),
    ("bidi \u202e override", "bidi \\u202e override"),
    ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ("sep\u2028line", "sep\\u2028line"),
    ("back\\slash 'quote'", "back\\slash 'quote'"),
])
def test_safe_text_escapes_what_could_start_a_line_or_recolour(raw, shown):
    assert safe_text(raw) == shown
    assert "\n" not in safe_text(raw) and safe_text(raw).encode("utf-8")


def test_safe_text_keeps_requested_characters():
    assert safe_text("def f():\n\treturn 1\x1b", keep="\n\t") == "def f():\n\treturn 1\\x1b"


def test_explicit_setting_reads_overrides_and_config_file(tmp_path):
    assert explicit_setting(None, ["induction.n_samples=4"], "induction.n_samples")
    assert not explicit_setting(None, ["induction.seed=4", "lm.model=x"], "induction.n_samples")
    cfg = tmp_path / "c.toml"
    cfg.write_text("[induction]\nn_samples = 2\n[lm]\nmodel = 'x'\n")
    assert explicit_setting(cfg, [], "induction.n_samples")
    assert not explicit_setting(cfg, [], "induction.seed")
