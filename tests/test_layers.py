"""The house's layer contracts (pyproject.toml [tool.importlinter], checked by import-linter): the
dependency direction of docs/ARCHITECTURE.md, the sandbox's narrow view of arc_core, and no import
cycle between the modules of any package, lazy imports inside functions included."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_layer_contracts_are_kept(monkeypatch, capsys):
    from importlinter.cli import lint_imports

    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(str(REPO))
    code = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True)
    report = capsys.readouterr().out
    assert code == 0, report
    assert report.count(" KEPT") == 3 and "BROKEN" not in report, report
