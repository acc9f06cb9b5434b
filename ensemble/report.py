"""`arc-hybrid report RUN_DIR`: one self-contained, offline HTML file (RUN_DIR/report.html).

Inline CSS and JavaScript, grids as inline SVG (`arc_core.render`), programs highlighted with
pygments (inline styles), no network access. Sections: overview (scores, per-source counts, time
per stage, failures), a task list with a status filter and a search box, and per task: the grids,
the final attempts with correctness, candidates of both sources, the TTT loss curve (inline SVG)
and vote tables, and the programs grouped by status with per-demonstration pass/fail and
output-vs-expected grids. Everything is read from the run store; known test outputs only mark
correctness. The script sets `data-ready="1"` on <body> once it has wired the controls, which the
browser test checks.
"""
from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from arc_core.candidates import Source
from arc_core.grid import Grid
from arc_core.render import grid_svg, task_svg
from arc_core.task import Dataset

from transduction.provenance import read_report as read_contamination

from ensemble.contamination import recorded
from ensemble.views import cell_diff, query_line
from ensemble.store import STAGES, RunStore
from ensemble.summary import RunSummary, score_run, solved_by_source, summarise

_CSS = """
body{font-family:system-ui,sans-serif;margin:0;padding:0 1.5em 3em;color:#222;background:#fafafa}
h1{margin:.6em 0 .2em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.4em 0} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eee} .num{text-align:right} .ok{color:#0a7d28;font-weight:600} .bad{color:#b3261e;font-weight:600}
.muted{color:#777} .task{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:1em 0}
.grids{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start} .cell{display:inline-block;text-align:center;font-size:.85em}
.hidden{display:none} .controls{position:sticky;top:0;background:#fafafa;padding:.5em 0;z-index:2}
.controls input{width:18em;padding:.2em} details{margin:.3em 0} summary{cursor:pointer}
pre.error{background:#fff3f3;border:1px solid #f0c0c0;padding:.4em;white-space:pre-wrap}
.highlight pre{background:#f6f8fa;padding:.5em;overflow-x:auto;margin:.3em 0}
.badge{display:inline-block;border-radius:3px;padding:0 .4em;font-size:.85em;background:#e5e5e5}
.badge.verified{background:#cdeccd} .badge.failed{background:#f6e3c0} .badge.error{background:#f6caca}
"""

_JS = """
(function(){
  var search=document.getElementById('search'), filter=document.getElementById('filter');
  var rows=Array.prototype.slice.call(document.querySelectorAll('#task-list tbody tr'));
  var sections=Array.prototype.slice.call(document.querySelectorAll('section.task'));
  function matches(el){
    var q=search.value.trim().toLowerCase(), f=filter.value;
    if(q && el.getAttribute('data-search').indexOf(q)<0) return false;
    return f==='all' || (' '+el.getAttribute('data-tags')+' ').indexOf(' '+f+' ')>=0;
  }
  function apply(){
    var shown=0;
    rows.forEach(function(r){var m=matches(r); r.classList.toggle('hidden',!m); if(m) shown++;});
    sections.forEach(function(s){s.classList.toggle('hidden',!matches(s));});
    document.getElementById('shown').textContent=shown+' of '+rows.length+' tasks shown';
  }
  search.addEventListener('input',apply); filter.addEventListener('change',apply); apply();
  document.body.setAttribute('data-ready','1');
})();
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _grid(grid: Grid | None, label: str = "", cell: int = 12) -> str:
    body = grid_svg(grid, cell) if grid is not None else '<span class="muted">none</span>'
    return f'<div class="cell">{body}<br>{_e(label)}</div>'


def _diff_note(produced: Grid | None, expected: Grid) -> str:
    """'3/9 cells wrong' or the shape mismatch (first line of `views.cell_diff`)."""
    if produced is None or produced == expected:
        return ""
    return f'<br><span class="bad">{_e(cell_diff(produced, expected).splitlines()[0].split(" (")[0])}</span>'


def _mark(ok: bool | None) -> str:
    if ok is None:
        return '<span class="muted">unknown</span>'
    return '<span class="ok">right</span>' if ok else '<span class="bad">wrong</span>'


def _table(headers: list[str], rows: list[list[str]], attrs: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def loss_curve_svg(losses: list[float], width: int = 320, height: int = 120) -> str:
    """A line chart of the TTT loss per step (inline SVG); empty text when there is nothing to draw."""
    ys = [float(v[-1] if isinstance(v, (list, tuple)) else v) for v in losses]
    ys = [y for y in ys if math.isfinite(y)]
    if not ys:
        return '<span class="muted">no loss recorded</span>'
    lo, hi = min(ys), max(ys)
    span = (hi - lo) or 1.0
    pad = 24
    n = max(1, len(ys) - 1)
    pts = " ".join(f"{pad + (width - 2 * pad) * i / n:.1f},{height - pad - (height - 2 * pad) * (y - lo) / span:.1f}"
                   for i, y in enumerate(ys))
    return (f'<svg class="loss-curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<rect width="{width}" height="{height}" fill="#fff" stroke="#ccc"/>'
            f'<polyline points="{pts}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>'
            f'<text x="4" y="14" font-size="10">{hi:.3f}</text><text x="4" y="{height - 6}" font-size="10">{lo:.3f}</text>'
            f'<text x="{width - 70}" y="{height - 6}" font-size="10">{len(ys)} steps</text></svg>')


def _small(grid: Any) -> str:
    try:
        return grid_svg(Grid.parse(grid, "vote table"), 8)
    except ValueError as e:
        return f'<span class="bad">{_e(e)}</span>'


def vote_table_html(table: Any) -> str:
    """Transduction's VoteTable.to_dict(): the ranked tallies, then each transform's predictions
    (with counts) and its stage-1 votes. Any other shape is shown as JSON."""
    if not (isinstance(table, dict) and {"ranked", "per_transform", "stage1"} <= set(table)):
        return f'<pre class="votes">{_e(json.dumps(table, indent=1)[:4000])}</pre>'
    ranked = [[str(r), _small(t["grid"]), str(t.get("votes")), str(t.get("identity_count")), str(t.get("count")),
               _e(", ".join(t.get("transforms", [])))] for r, t in enumerate(table["ranked"])]
    per = [[_e(name), " ".join(f"{_small(g)}×{c}" for g, c in preds),
            " ".join(_small(g) for g in table["stage1"].get(name, []))]
           for name, preds in table["per_transform"].items()]
    return (_table(["rank", "grid", "votes", "identity", "count", "transforms"], ranked, 'class="votes"')
            + _table(["transform", "predictions × count", "stage-1 votes"], per, 'class="votes"'))


def _overview(s: RunSummary) -> str:
    rows = [["tasks", str(s.tasks)], ["finished", str(s.finished)]]
    if s.score is not None:
        rows += [["Kaggle score", f'<span id="kaggle-score">{s.score.kaggle_score:g}</span> / {s.score.tasks} '
                                  f"({100 * s.score.kaggle_fraction:.1f}%)"],
                 ["strict solved", f"{s.score.strict_solved} / {s.score.tasks}"]]
        rows += [[f"tasks fully solved by {k} (its top 2)", str(s.solved_by.get(k, 0))] for k in ("induction", "transduction", "both")]
    else:
        rows.append(["score", "test outputs unknown"])
    rows += [[f"{src} candidates", str(s.per_source_candidates.get(src, 0))] for src in ("induction", "transduction")]
    rows.append(["verified programs", str(s.verified_programs)])
    if s.skipped_ttt:
        rows.append(["TTT skipped (all tests verified)", _e(", ".join(s.skipped_ttt))])
    if s.budget:
        rows.append(["time budget", f"{s.budget['seconds']:.0f} s (margin {s.budget['margin_s']:.0f} s): "
                                    f"{len(s.budget.get('cuts') or {})} task(s) cut"])
    stage_rows = [[st, f"{s.stage_seconds.get(st, 0.0):.1f}",
                   _e(", ".join(f"{n} {k}" for k, n in sorted(s.stage_counts.get(st, {}).items())))]
                  for st in STAGES if st in s.stage_counts]
    stage_rows += [[f"load {st}", f"{sec:.1f}", "loading models / sandbox"] for st, sec in s.load_seconds.items()]
    fail_rows = [[_e(st), _e(r), str(n)] for (st, r), n in sorted(s.failures.items())]
    return ('<section id="overview"><h2>Overview</h2>' + _table(["measure", "value"], rows, 'id="summary"')
            + "<h3>Time per stage</h3>" + _table(["stage", "seconds", "tasks"], stage_rows, 'id="stage-times"')
            + "<h3>Failures</h3>" + (_table(["stage", "reason", "tasks"], fail_rows, 'id="failures"')
                                     if fail_rows else '<p id="failures">none</p>') + "</section>")


def _task_tags(store: RunStore, dataset: Dataset, tid: str) -> tuple[list[str], dict]:
    status, reason = store.task_status(tid)
    tags = [status]
    info: dict = {"status": status, "reason": reason, "fraction": None, "by": {}}
    if tid in dataset.solutions:
        task_score = score_run(store, dataset, [tid]).task_scores[0]  # the one scoring path
        info["fraction"] = task_score.fraction
        tags.append("solved" if task_score.strict else "unsolved")
        info["by"] = solved_by_source(store, dataset, tid)
        tags += [f"by-{k}" for k, v in info["by"].items() if v]
    return tags, info


def _task_list(entries: list[tuple[str, list[str], dict]]) -> str:
    rows = []
    for tid, tags, info in entries:
        frac = "" if info["fraction"] is None else f"{info['fraction']:.2f}"
        by = ", ".join(k for k, v in info["by"].items() if v) or ("-" if info["by"] else "")
        rows.append(f'<tr data-tags="{_e(" ".join(tags))}" data-search="{_e(tid.lower())}">'
                    f'<td><a href="#task-{_e(tid)}">{_e(tid)}</a></td><td>{_e(info["status"])}</td>'
                    f'<td>{_e(info["reason"] or "")}</td><td class="num">{frac}</td><td>{_e(by)}</td></tr>')
    options = "".join(f'<option value="{v}">{v}</option>'
                      for v in ("all", "solved", "unsolved", "failed", "done", "by-induction", "by-transduction"))
    return ('<section id="tasks"><h2>Tasks</h2><div class="controls">'
            f'<input id="search" type="search" placeholder="search task id"> <select id="filter">{options}</select> '
            '<span id="shown" class="muted"></span></div>'
            '<table id="task-list"><thead><tr><th>task</th><th>status</th><th>failure</th><th>score</th>'
            f'<th>fully solved by (each source&#39;s top 2)</th></tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _programs_html(store: RunStore, dataset: Dataset, tid: str, formatter: HtmlFormatter) -> str:
    task = dataset.tasks[tid]
    progs = store.programs(tid)
    if not progs:
        return '<p class="muted">no programs</p>'
    out = []
    for status in ("verified", "failed", "error"):
        group = [p for p in progs if p["status"] == status]
        if not group:
            continue
        out.append(f"<h4>{status} ({len(group)})</h4>")
        for p in group[:50]:
            pairs = []
            for i, (pair, res) in enumerate(zip(task.train, p["pairs"])):
                produced = Grid.parse(res["output"], "stored output") if res.get("output") is not None else None
                verdict = _mark(bool(res.get("exact")))
                err = f' <span class="bad">{_e(res.get("error_type") or res.get("status"))}</span>' \
                    if res.get("status") != "ok" else ""
                pairs.append(f'<div class="cell">demo {i}: {verdict}{err}<div class="grids">'
                             f'{_grid(produced, "output")}{_grid(pair.output, "expected")}</div>'
                             f'{_diff_note(produced, pair.output).removeprefix("<br>")}</div>')
            code = highlight(p["source"] or "", PythonLexer(), formatter)
            out.append(f'<details class="program" data-status="{status}"><summary><span class="badge {status}">{status}'
                       f'</span> {_e(p["program_id"])} ×{p["multiplicity"]} (round {p["round"] or 0})</summary>'
                       f'{code}<div class="grids">{"".join(pairs)}</div></details>')
        if len(group) > 50:
            out.append(f'<p class="muted">{len(group) - 50} more not shown</p>')
    return "".join(out)


def _samples_line(store: RunStore, tid: str) -> str:
    """How many induction samples there were and why those without a program gave none."""
    result = store.result(tid, "induction")
    if not result or "samples" not in result:
        return ""
    samples = result["samples"]
    reasons: dict[str, int] = {}
    for x in samples:
        if x.get("reason"):
            reasons[x["reason"]] = reasons.get(x["reason"], 0) + 1
    why = ", ".join(f"{k} ×{n}" for k, n in sorted(reasons.items()))
    return (f'<p class="samples">{len(samples)} sample(s), {sum(1 for x in samples if x.get("program_id"))} with a '
            f'program{"; no program: " + _e(why) if why else ""}</p>')


def _task_section(store: RunStore, dataset: Dataset, tid: str, tags: list[str], info: dict,
                  formatter: HtmlFormatter) -> str:
    task = dataset.tasks[tid]
    truth = dataset.solutions.get(tid)
    parts = [f'<section class="task" id="task-{_e(tid)}" data-tags="{_e(" ".join(tags))}" data-search="{_e(tid.lower())}">',
             f"<h3>{_e(tid)} <span class=\"badge\">{_e(info['status'])}</span></h3>", task_svg(task, truth)]
    stage_rows = []
    for st in STAGES:
        row = store.stage(tid, st)
        if row is not None:
            err = f'<pre class="error">{_e(row["error"])}</pre>' if row["error"] else _e(row["note"] or "")
            stage_rows.append([st, _e(row["status"]), f'{row["seconds"] or 0:.1f}', str(row["starts"]), err])
    parts.append(_table(["stage", "status", "seconds", "starts", "detail"], stage_rows))
    cuts = [line for st in STAGES for line in ((store.result(tid, st) or {}).get("budget") or {}).get("cut", [])]
    cuts += ((store.get_meta("budget") or {}).get("cuts") or {}).get(tid, [])
    if cuts:
        parts.append('<h4>Cut by the time budget</h4><ul class="budget">'
                     + "".join(f"<li>{_e(c)}</li>" for c in dict.fromkeys(cuts)) + "</ul>")
    attempt_cells = []
    for a in store.attempts(tid):
        ok = None if truth is None else a.grid == truth[a.test_index]
        diff = _diff_note(a.grid, truth[a.test_index]) if truth is not None else ""
        attempt_cells.append(f'<div class="cell attempt">{grid_svg(a.grid, 12)}<br>test {a.test_index} '
                             f'attempt {a.attempt}: {_mark(ok)}<br><span class="muted">{_e(a.branch)}</span>{diff}</div>')
    parts.append('<h4>Final attempts</h4><div class="grids">' + ("".join(attempt_cells) or "none") + "</div>")
    for src in (Source.INDUCTION, Source.TRANSDUCTION):
        cands = store.candidates(tid, src)
        cells = [_grid(c.grid, f"test {c.test_index} #{c.rank} w={c.weight:g}"
                       + (f" s={c.score:.2f}" if c.score is not None else "")
                       + ("" if truth is None else (" ✓" if c.grid == truth[c.test_index] else " ✗")), 10)
                 for c, _ in cands[:24]]
        parts.append(f"<h4>{src.value} candidates ({len(cands)})</h4><div class=\"grids\">{''.join(cells)}</div>")
    ttt = store.ttt(tid)
    if ttt is not None:
        facts = ", ".join(f"{k}={ttt[k]:.1f}" if isinstance(ttt[k], float) else f"{k}={_e(ttt[k])}"
                          for k in ("examples", "tokens", "steps", "seconds", "reused_adapter") if ttt.get(k) is not None)
        parts.append(f"<h4>TTT</h4><p>{facts}</p>{loss_curve_svg(list(ttt.get('loss_curve') or []))}")
    queries = query_line(store, tid)
    if queries:
        parts.append(f"<p>{_e(queries)}</p>")
    for i, table in store.votes(tid).items():
        parts.append(f"<details><summary>vote table, test {i}</summary>{vote_table_html(table)}</details>")
    parts.append("<h4>Programs</h4>" + _samples_line(store, tid) + _programs_html(store, dataset, tid, formatter))
    parts.append("</section>")
    return "".join(parts)


def render_report(store: RunStore, dataset: Dataset) -> str:
    summary = summarise(store, dataset)
    formatter = HtmlFormatter(noclasses=True, cssclass="highlight")
    ids = [t for t in store.task_ids() if t in dataset.tasks]
    entries = [(tid, *_task_tags(store, dataset, tid)) for tid in ids]
    sections = "".join(_task_section(store, dataset, tid, tags, info, formatter) for tid, tags, info in entries)
    cfg = store.get_meta("config", {})
    title = f"arc-hybrid report: {store.run_dir.name}"
    # `run` records one report per model in the meta (ensemble.contamination); a contamination.json
    # (transduction.provenance, as `transduce` writes it) placed in the run directory is shown too.
    reports = recorded(store) + [r for r in (read_contamination(store.run_dir),) if r is not None]
    warnings = list(dict.fromkeys(w for w in (r.warning() for r in reports) if w))
    contamination = ('<div id="contamination">' + "".join(f'<p class="bad">{_e(w)}</p>' for w in warnings) + "</div>"
                     if warnings else "")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{_e(title)}</h1>"
            f'<p class="muted">dataset {_e(store.get_meta("dataset"))}, policy {_e(cfg.get("ensemble", {}).get("policy"))}, '
            f"written {time.strftime('%Y-%m-%d %H:%M:%S')}</p>"
            + contamination
            + _overview(summary) + _task_list(entries) + f'<div id="task-sections">{sections}</div>'
            + f"<details><summary>configuration</summary><pre>{_e(json.dumps(cfg, indent=1))}</pre></details>"
            + f"<script>{_JS}</script></body></html>")


def write_report(store: RunStore, dataset: Dataset, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_report(store, dataset), encoding="utf-8")
    tmp.replace(path)
    return path
