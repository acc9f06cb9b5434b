"""The user cache directory and atomic writes of whole directories into it.

Where: `$ARC_HYBRID_CACHE`, else `$XDG_CACHE_HOME/arc-hybrid`, else `~/.cache/arc-hybrid`.
What lives there: de-quantised copies of GGUF models (`models/<key>/`) and their tokenizers
(`tokenizers/<key>/`), each an ordinary Hugging Face directory.

`atomic_dir(target, build)` builds into a temporary sibling directory and renames it into place,
so a concurrent process sees either no directory or a complete one; when two processes race, the
first rename wins and the loser's copy is deleted.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

COMPLETE_MARKER = ".arc-hybrid-complete"


def cache_root() -> Path:
    """The cache root directory (not created)."""
    explicit = os.environ.get("ARC_HYBRID_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "arc-hybrid"
    return Path.home() / ".cache" / "arc-hybrid"


def is_complete(path: Path) -> bool:
    """True when `path` is a directory written completely by `atomic_dir`."""
    return (path / COMPLETE_MARKER).is_file()


def atomic_dir(target: Path, build: Callable[[Path], None]) -> Path:
    """Create directory `target` by calling `build(tmp_dir)` and renaming; return `target`.

    If `target` already exists complete, `build` is not called.
    """
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        build(tmp)
        (tmp / COMPLETE_MARKER).write_text("ok\n")
        try:
            os.rename(tmp, target)
        except OSError:
            # Another process renamed its copy first (target now exists and is non-empty),
            # or a stale incomplete target is in the way.
            if not is_complete(target):
                if target.exists():
                    stale = target.with_name(f".{target.name}.stale-{os.getpid()}")
                    os.rename(target, stale)
                    shutil.rmtree(stale, ignore_errors=True)
                os.rename(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
