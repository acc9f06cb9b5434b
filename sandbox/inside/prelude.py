"""Load the prelude in the zygote from the sources the orchestrator sent, never from the disk.

The orchestrator reads the prelude file and the sibling modules its imports name
(sandbox/prelude.py) and sends them in the init message; this module serves exactly those, by
name, from memory: the zygote never opens, stats or lists the prelude's directory (a listing
would stay in its memory, and every child's, and could name files that sit next to the prelude).
It runs after the zygote confined itself (sandbox/inside/jail.py), so the prelude's code can read
no file, reach no network and write nothing; it can import what programs can import (the
pre-imported modules) and its own modules. The main file is the module `common`; its siblings
keep their names (`dsl`, a package `helpers` with `helpers.shapes`, ...), as when plain Python
imports them from the prelude's directory.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys


class _MemoryLoader(importlib.abc.Loader):
    def __init__(self, source: str, path: str) -> None:
        self.source, self.path = source, path

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module) -> None:
        exec(compile(self.source, self.path, "exec", dont_inherit=True), module.__dict__)  # noqa: S102 - the prelude

    def get_source(self, fullname: str) -> str:
        return self.source  # for linecache/inspect, as a file-backed module would give


class PreludeFinder(importlib.abc.MetaPathFinder):
    """Finds the prelude's own modules (name -> source) and nothing else."""

    def __init__(self, modules: list[dict]) -> None:
        self.modules = {m["name"]: m for m in modules}

    @property
    def names(self) -> list[str]:
        return sorted({n.split(".")[0] for n in self.modules})

    def find_spec(self, fullname, path=None, target=None):
        m = self.modules.get(fullname)
        if m is None:
            return None
        # An empty search path for packages: no finder ever looks in (or lists) a directory.
        return importlib.util.spec_from_file_location(fullname, m["path"], loader=_MemoryLoader(m["source"], m["path"]),
                                                      submodule_search_locations=[] if m["package"] else None)


def load(finder: PreludeFinder, guard) -> None:
    """Import the prelude as `common` with only `finder` and `guard` (which refuses the rest)."""
    sys.meta_path[:] = [finder, guard]
    sys.path[:] = []
    sys.path_importer_cache.clear()
    importlib.import_module("common")
