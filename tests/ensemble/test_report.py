"""The HTML report: self-contained, the key elements present, and (when Debian's chromium is
installed) opened in headless Chromium with a screenshot, a DOM dump and no script error."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ensemble.report import loss_curve_svg, render_report, write_report

CHROMIUM = Path("/usr/bin/chromium")


def test_report_is_self_contained_with_key_elements(synthetic_run):
    run_dir, store, ds = synthetic_run
    page = render_report(store, ds)
    # offline: no external resources of any kind
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "@import" not in page
    for needle in ('id="overview"', 'id="summary"', 'id="stage-times"', 'id="failures"', 'id="task-list"',
                   'id="search"', 'id="filter"', 'class="loss-curve"', "out-of-memory", "<svg",
                   'id="task-0d3d703e"', 'data-status="verified"', 'data-status="failed"', 'data-status="error"',
                   "ZeroDivisionError", "prefer-programs:verified-program", 'class="votes"'):
        assert needle in page, needle
    # pygments highlighted the program (inline styles, comment styled)
    assert '<div class="highlight"' in page and "# a comment" in page
    assert page.count('<section class="task"') == 3


def test_report_shows_contamination(synthetic_run):
    """A run directory holding a contamination report (written by transduce / run) shows its warning."""
    from transduction.provenance import ContaminationReport, write_report as write_contamination

    run_dir, store, ds = synthetic_run
    assert 'id="contamination"' not in render_report(store, ds)
    tid = ds.ids()[0]
    write_contamination(run_dir, ContaminationReport("smollm2-135m-arc", "shipped", len(ds), {tid: "re-ARC generator"}))
    page = render_report(store, ds)
    assert 'id="contamination"' in page and tid in page and "not held-out" in page


def test_loss_curve_edge_cases():
    assert "no loss recorded" in loss_curve_svg([])
    assert "no loss recorded" in loss_curve_svg([float("nan")])
    assert "<polyline" in loss_curve_svg([1.0])
    assert "3 steps" in loss_curve_svg([[0, 2.0], [1, 1.0], [2, 0.5]])


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium missing (Debian package `chromium`)")
def test_report_in_headless_chromium(synthetic_run, tmp_path):
    run_dir, store, ds = synthetic_run
    path = write_report(store, ds, run_dir / "report.html")
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    r = subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1280,2000", path.as_uri()],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000
    r = subprocess.run(flags + ["--enable-logging=stderr", "--v=0", "--dump-dom", path.as_uri()],
                       capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    console = [line for line in r.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "Error" in line], console
    assert 'data-ready="1"' in dom  # the script ran to its end
    assert re.search(r'id="shown"[^>]*>3 of 3 tasks shown<', dom), "filter script did not update the count"
    for needle in ('id="summary"', 'id="task-list"', 'id="task-25ff71a9"', 'class="loss-curve"'):
        assert needle in dom
