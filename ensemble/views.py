"""Text views of a run for the terminal: `arc-hybrid task` and `arc-hybrid programs`.

Everything is read from the run store that `ensemble.rundir.open_run` gives for any run directory
(`run`, `induce` or `transduce`); the known test outputs are used only to mark attempts and
candidates right or wrong and to print cell diffs. Text that programs or imported records control
(error messages, program ids, sources) is escaped with `arc_core.cli.safe_text`, so it cannot forge
a line of this output.
"""
from __future__ import annotations

import sys
from typing import Any

from arc_core.candidates import Source
from arc_core.cli import safe_text
from arc_core.grid import Grid
from arc_core.render import default_style, render_grid, render_task
from arc_core.task import Dataset

from ensemble.store import STAGES, RunStore


def cell_diff(produced: Grid, expected: Grid) -> str:
    """'=' where the cell is right, the produced colour where it is wrong; or the shape mismatch."""
    if produced.shape != expected.shape:
        return f"shape {produced.height}x{produced.width}, expected {expected.height}x{expected.width}"
    rows = ["".join("=" if a == b else str(a) for a, b in zip(pr, er))
            for pr, er in zip(produced.rows, expected.rows)]
    right = sum(r.count("=") for r in rows)
    total = expected.height * expected.width
    return f"{total - right}/{total} cells wrong ('=' right, digit = produced colour):\n" + "\n".join(rows)


def _mark(grid: Grid, truth: Grid | None) -> str:
    if truth is None:
        return ""
    return "  RIGHT" if grid == truth else "  wrong"


def _indent(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def task_text(store: RunStore, dataset: Dataset, task_id: str, style: str = "auto") -> str:
    if task_id not in dataset.tasks:
        raise KeyError(f"task {task_id} is not in the run {store.run_dir}")
    style = default_style(sys.stdout) if style == "auto" else style
    task = dataset.tasks[task_id]
    truth = dataset.solutions.get(task_id)
    out = [render_task(task, truth, style), "", "stages:"]
    for st in STAGES:
        row = store.stage(task_id, st)
        if row is None:
            out.append(f"  {st:<13} not run")
            continue
        extra = f" ({row['reason']}: {safe_text((row['error'] or '').strip().splitlines()[:1])})" \
            if row["status"] == "failed" else ""
        note = f" [{safe_text(row['note'])}]" if row["note"] else ""
        crashes = f", the run process died in it {row['crashes']}x" if row["crashes"] else ""
        where = f" on {safe_text(row['worker'])}" if row["worker"] not in (None, "local") else ""
        out.append(f"  {st:<13} {row['status']} {row['seconds'] or 0:.1f}s, started {row['starts']}x{where}"
                   f"{crashes}{extra}{note}")
        for line in ((store.result(task_id, st) or {}).get("budget") or {}).get("cut", []):
            out.append(f"  {'':<13} time budget: {safe_text(line)}")
    for line in ((store.get_meta("budget") or {}).get("cuts") or {}).get(task_id, []):
        out.append(f"  time budget: {safe_text(line)}")
    for src in (Source.INDUCTION, Source.TRANSDUCTION):
        cands = store.candidates(task_id, src)
        out += ["", f"{src.value} candidates ({len(cands)}):"]
        for cand, verified in cands:
            t = truth[cand.test_index] if truth else None
            score = f" score={cand.score:.3f}" if cand.score is not None else ""
            kind = (" verified" if verified else " near-miss") if src is Source.INDUCTION else ""
            prov = safe_text(", ".join(cand.provenance[:6]) + (" ..." if len(cand.provenance) > 6 else ""))
            out.append(f"  test[{cand.test_index}] rank {cand.rank} weight={cand.weight:g}{score}{kind}"
                       f" from [{prov}]{_mark(cand.grid, t)}")
            out.append(_indent(render_grid(cand.grid, style)))
        votes = store.votes(task_id) if src is Source.TRANSDUCTION else {}
        for i, table in votes.items():
            out += _vote_lines(i, table)
        queries = query_line(store, task_id) if src is Source.TRANSDUCTION else None
        if queries:
            out.append(f"  {queries}")
    result = store.result(task_id, "induction") or {}
    samples = result.get("samples", [])
    if samples:
        reasons = sorted({x["reason"] for x in samples if x.get("reason")})
        counts = safe_text(", ".join(f"{r} x{sum(1 for x in samples if x.get('reason') == r)}" for r in reasons))
        out += ["", f"induction samples: {len(samples)}, with a program: "
                    f"{sum(1 for x in samples if x.get('program_id'))}" + (f"; no program: {counts}" if counts else "")]
    verified = store.programs(task_id, "verified")
    out += ["", f"verified programs ({len(verified)}):"]
    for p in verified:
        out.append(f"  {safe_text(p['program_id'])}  x{p['multiplicity']}  round {p['round']}")
    out += ["", "final attempts:"]
    for a in store.attempts(task_id):
        t = truth[a.test_index] if truth else None
        out.append(f"  test[{a.test_index}] attempt {a.attempt}: {a.source.value} via {a.branch}{_mark(a.grid, t)}")
        out.append(_indent(render_grid(a.grid, style)))
        if t is not None and a.grid != t:
            out.append(_indent(cell_diff(a.grid, t)))
    if truth is None:
        out.append("  (test outputs unknown: no correctness)")
    return "\n".join(out) + "\n"


def query_line(store: RunStore, task_id: str) -> str | None:
    """Transduction's inference queries: how many ran, were dropped (by reason) or fell back to
    leave-two-out prompts, and the smallest answer budget (None before transduction ran)."""
    q = ((store.result(task_id, "infer") or {}).get("data") or {}).get("inference")
    if not q:
        return None
    reasons = ", ".join(f"{r} x{n}" for r, n in sorted(q["drop_reasons"].items()))
    unanswered = f"; no query fits test input(s) {q['unanswerable_tests']}" if q["unanswerable_tests"] else ""
    return (f"inference queries: {q['queries']} run, {q['dropped']} dropped" + (f" ({reasons})" if reasons else "")
            + f", {q['fallbacks']} leave-two-out fallbacks; smallest answer budget {q['min_budget']} tokens, "
              f"longest prompt {q['max_prompt_tokens']} of {q['context']}{unanswered}")


def _vote_lines(i: int, table: object) -> list[str]:
    """Transduction's vote table (VoteTable.to_dict) as one line per transform and per tally."""
    if not (isinstance(table, dict) and {"ranked", "per_transform"} <= set(table)):
        return [f"  vote table test[{i}]: {_short_json(table)}"]
    lines = [f"  vote table test[{i}]:"]
    for name, preds in table["per_transform"].items():
        counts = ", ".join(f"{Grid.parse(g, 'vote').shape[0]}x{Grid.parse(g, 'vote').shape[1]}×{c}" for g, c in preds)
        lines.append(f"    {name:<14} predictions: {counts or 'none parsed'}")
    for r, t in enumerate(table["ranked"]):
        lines.append(f"    #{r} votes={t.get('votes')} identity={t.get('identity_count')} count={t.get('count')} "
                     f"from [{', '.join(t.get('transforms', []))}]")
    return lines


def _short_json(obj: object, limit: int = 300) -> str:
    import json

    text = json.dumps(obj, separators=(",", ":"))
    return text if len(text) <= limit else text[:limit] + " ..."


_PAIR_MARK = {"ok": "+", "exception": "E", "timeout": "T", "memory": "M", "crash": "C", "invalid_output": "I",
              "invalid-output": "I", "setup_failure": "S", "setup-failure": "S"}


def pair_marks(pairs: list[dict]) -> str:
    """One character per demonstration: '✓' exact, 'x' wrong output, else the failure's letter."""
    return "".join("✓" if p.get("exact") else ("x" if p.get("status") == "ok" else _PAIR_MARK.get(p.get("status"), "?"))
                   for p in pairs)


def programs_table(store: RunStore, task_id: str | None, status: str | None) -> str:
    if task_id is not None:
        store.n_test(task_id)  # raises for an unknown task
    progs = store.programs(task_id, status)
    lines = [f"{'task':<10} {'program':<18} {'status':<9} {'mult':>4} {'rnd':>3}  demos  tests"]
    for p in progs:
        tests = safe_text(",".join(str(t.get("status", "?")) for t in p["tests"]))
        lines.append(f"{safe_text(p['task_id']):<10} {safe_text(p['program_id']):<18} {p['status']:<9} "
                     f"{p['multiplicity'] or 0:>4} {p['round'] or 0:>3}  {pair_marks(p['pairs']):<5}  {tests}")
    lines.append(f"{len(progs)} program(s); demos: ✓ exact, x wrong output, E exception, T timeout, M memory, "
                 "C crash, I invalid output")
    return "\n".join(lines) + "\n"


def programs_json(store: RunStore, task_id: str | None, status: str | None) -> list[dict[str, Any]]:
    """Every program (of a task / with a status): task, id, multiplicity, round, verified flag, status,
    source and per-pair status (demonstrations with exactness, test inputs)."""
    if task_id is not None:
        store.n_test(task_id)  # raises for an unknown task
    return [{"task_id": p["task_id"], "program_id": p["program_id"], "multiplicity": p["multiplicity"],
             "round": p["round"], "verified": p["status"] == "verified", "status": p["status"],
             "source": p["source"],
             "demos": [{k: d.get(k) for k in ("status", "exact", "cell_accuracy", "error_type", "error")}
                       for d in p["pairs"]],
             "tests": [{k: t.get(k) for k in ("status", "output", "error_type", "error")} for t in p["tests"]]}
            for p in store.programs(task_id, status)]


def program_text(store: RunStore, dataset: Dataset, program_id: str, task_id: str | None = None) -> str:
    matches = [p for p in store.programs(task_id) if p["program_id"] == program_id]
    if not matches:
        raise KeyError(f"no program {program_id} in {store.run_dir}" + (f" for task {task_id}" if task_id else ""))
    p = matches[0]
    task = dataset.tasks[p["task_id"]]
    out = [f"program {safe_text(p['program_id'])} (task {safe_text(p['task_id'])}): {p['status']}, "
           f"multiplicity {p['multiplicity']}, round {p['round']}", "",
           _indent(safe_text(p["source"] or "(no source)", keep="\n\t"), "  | "), ""]
    for i, (pair, res) in enumerate(zip(task.train, p["pairs"])):
        acc = res.get("cell_accuracy")
        acc_s = f", cell accuracy {acc:.2f}" if acc is not None else ""
        out.append(f"demo[{i}]: {res.get('status')}, {'exact' if res.get('exact') else 'not exact'}{acc_s}"
                   + (f" — {safe_text(res.get('error_type'))}: {safe_text(res.get('error'))}" if res.get("error") else ""))
        if res.get("output") is not None and not res.get("exact"):
            out.append(_indent(cell_diff(Grid.parse(res["output"], "stored output"), pair.output)))
    for i, res in enumerate(p["tests"]):
        out.append(f"test[{i}]: {safe_text(res.get('status'))}" + (f" — {safe_text(res.get('error'))}" if res.get("error") else ""))
        if res.get("output") is not None:
            out.append(_indent(render_grid(Grid.parse(res["output"], "stored output"))))
    if len(matches) > 1:
        out.append(f"(program id also in task(s) {safe_text(', '.join(m['task_id'] for m in matches[1:]))}; use --task)")
    return "\n".join(out) + "\n"
