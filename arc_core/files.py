"""Small file helpers shared by every package that writes run outputs.

`write_json_atomic` writes to a temporary sibling and renames it over the target, so a reader (or a
resumed run after a crash) sees either the old file or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Serialise `obj` as JSON into `path` atomically (parent dirs created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    separators = (",", ":") if indent is None else None
    tmp.write_text(json.dumps(obj, indent=indent, separators=separators), encoding="utf-8")
    os.replace(tmp, path)
    return path
