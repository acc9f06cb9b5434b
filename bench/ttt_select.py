"""Ablation: which candidates and which selection rule, on the same per-task TTT adapter (CPU).

Tasks: tasks of `--dataset` (ARC-AGI-1 *training* by default) whose demonstration grids and test inputs
are all <= 10x10 (test outputs are never looked at to choose), ordered by (total cells of
demonstrations and test inputs, task id), the first `--tasks` of them: the smallest tasks first, so
more of them fit the CPU time. `--model` replaces cpu-small's model (e.g. the fine-tuned
`smollm2-135m-arc`); a model whose training provenance names a chosen task is refused (its score on
that task would not be held out; transduction.provenance). bench/finetune.py runs this bench on
held-out ARC-AGI-1 evaluation tasks for the base and the fine-tuned model.
Per task, each stage runs once and is cached under `--cache` (resumable; rerun to continue):
  base    greedy augmented predictions of the base model (no TTT, today's query set)
  adapter the cpu-small TTT adapter (trained once)
  loo     greedy predictions with the adapter, today's query set (leave-one-out prompts, 6 transforms)
  all8    greedy predictions with the adapter, the bare prototype's query set (all demonstrations,
          8 dihedral views, one prompt each)
  dfs     DFS (threshold --threshold) under the first --dfs-views dihedral views, all demonstrations
  score   augmentation scores (K = --k views) of every candidate grid of loo, all8 and dfs
Variants are then computed from the cached stages (pass@2 of each rule's own two attempts).
Test outputs are read only to mark a variant right or wrong.

Usage: flock /tmp/arc-cpu.lock .venv/bin/python bench/ttt_select.py [--tasks 16] [--budget-s 1500]
Writes the ablation tables to --out (bench/results/ttt_select_table.md); bench/results/ttt_select.md
holds the discussion and the prototype comparison.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def choose_tasks(ds, n: int, side: int = 10) -> list[str]:
    """Deterministic: demos and test inputs <= side x side; smallest total cells first, then id."""
    ok = []
    for tid, task in ds.tasks.items():
        grids = [g for p in task.train for g in (p.input, p.output)] + list(task.test_inputs)
        if all(g.height <= side and g.width <= side for g in grids):
            ok.append((sum(g.height * g.width for g in grids), tid))
    return [tid for _, tid in sorted(ok)[:n]]


def refuse_contaminated(model: str, task_ids: list[str]) -> None:
    """Stop when `model` was trained on any of `task_ids` or their generators (not a held-out score)."""
    from transduction.provenance import contamination

    warning = contamination(model, task_ids).warning()
    if warning:
        raise SystemExit(f"{warning}\nchoose held-out tasks (e.g. --dataset arc1/evaluation)")


def cpu_name() -> str:
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), "?")


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cached(path: Path, fn):
    """Run `fn` once; its JSON result and seconds are kept at `path`."""
    if path.is_file():
        return json.loads(path.read_text())
    start = time.perf_counter()
    value = fn()
    out = {"value": value, "seconds": time.perf_counter() - start}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def all8(cfg):
    """The bare prototype's query set: all demonstrations, the 8 dihedral views, one prompt each."""
    from arc_core.transforms import DIHEDRAL
    from transduction.config import replace

    return replace(cfg, infer={"query_demos": "all", "permutations": 0, "transforms": tuple(DIHEDRAL)})


def grid_key(g) -> str:
    return json.dumps(g.to_list())


def run_task(task, tm, cfg, cache: Path, args) -> None:
    from transduction.augscore import score_candidates
    from transduction.dfs import DFSHit, SearchConfig, dfs_views
    from transduction.formats import get_format
    from transduction.pipeline import InferenceEngine, predict_task, train_task, vote
    from transduction.predict import Prediction

    fmt = get_format(cfg.data.format)
    engine = InferenceEngine.on_model(tm, cfg)
    cached(cache / "base.json", lambda: [p.to_dict() for p in predict_task(task, engine, cfg, None)])
    train = cached(cache / "adapter.json", lambda: train_task(task, tm, cfg, cache / "work").train.to_dict())
    adapter = train_task(task, tm, cfg, cache / "work").adapter  # the saved adapter (trained above or earlier)
    for name, c in (("loo", cfg), ("all8", all8(cfg))):
        cached(cache / f"{name}.json", lambda c=c: [p.to_dict() for p in predict_task(task, engine, c, adapter)])
    scfg = SearchConfig(args.threshold, 8, 16, cfg.infer.max_new_tokens)
    with engine.backend.model_for(adapter) as model:
        cached(cache / "dfs.json", lambda: [h.to_dict() for h in dfs_views(
            task, model, tm.tokenizer, fmt, all8(cfg).infer.transforms[:args.dfs_views], scfg,
            set(engine.backend.eos_ids))[0]])
    grids: dict[int, dict] = {}
    for name in ("loo", "all8"):
        preds = [Prediction.from_dict(p) for p in json.loads((cache / f"{name}.json").read_text())["value"]]
        for t in vote(task, preds):
            for x in t.ranked:
                grids.setdefault(t.test_index, {})[grid_key(x.grid)] = x.grid
    for h in json.loads((cache / "dfs.json").read_text())["value"]:
        hit = DFSHit.from_dict(h)
        grids.setdefault(hit.test_index, {})[grid_key(hit.grid)] = hit.grid

    def scores():
        return {str(ti): dict(zip(gs, score_candidates(task, ti, list(gs.values()), fmt, tm.tokenizer, engine.backend,
                                                       args.k, cfg.infer.seed, adapter)))
                for ti, gs in grids.items()}
    cached(cache / "score.json", scores)
    print(task.id, "train", round(train["seconds"]), "s", flush=True)


RULES = ("votes", "marc", "once-per-group", "plurality", "score", "DFS+score", "DFS+nvarc")
MAIN = ("no-TTT", "loo votes", "loo marc", "loo once-per-group", "loo plurality", "loo score", "loo DFS+score",
        "loo DFS+nvarc", "all8 votes", "all8 score", "all8 DFS+score", "all8 DFS+nvarc")


def evaluate(task, solutions, cache: Path, k: int) -> dict | None:
    """pass@2 and seconds of every variant from the cached stages (None if a stage is missing)."""
    from transduction.dfs import DFSHit
    from transduction.pipeline import vote
    from transduction.predict import Prediction
    from transduction.selection import pool, select

    stages = {}
    for name in ("base", "adapter", "loo", "all8", "dfs", "score"):
        path = cache / f"{name}.json"
        if not path.is_file():
            return None
        stages[name] = json.loads(path.read_text())
    sec = {n: s["seconds"] for n, s in stages.items()}
    preds = {n: [Prediction.from_dict(p) for p in stages[n]["value"]] for n in ("base", "loo", "all8")}
    hits = [DFSHit.from_dict(h) for h in stages["dfs"]["value"]]
    score_of = {int(ti): gs for ti, gs in stages["score"]["value"].items()}

    def attempts(tables, dfs_hits, ranking):
        """What a run submits: the top two candidates of `select` (transduction.run.attempts_of),
        not the vote table's `top2` (marc may repeat its first attempt; a submission cannot)."""
        out = []
        for t in tables:
            s = None if ranking == "votes" else [score_of[t.test_index][grid_key(g)] for g in pool(t, dfs_hits)]
            out.append(tuple(x.grid for x in select(t, dfs_hits, s, ranking, k)[:2]))
        return out

    plans = {"no-TTT": (vote(task, preds["base"]), [], "votes", sec["base"])}
    for qs in ("loo", "all8"):
        base_s = sec["adapter"] + sec[qs]
        for rule in ("votes", "marc", "once-per-group", "plurality"):
            plans[f"{qs} {rule}"] = (vote(task, preds[qs], rule), [], "votes", base_s)
        plans[f"{qs} score"] = (vote(task, preds[qs]), [], "score", base_s + sec["score"])
        for rank in ("score", "nvarc"):
            plans[f"{qs} DFS+{rank}"] = (vote(task, preds[qs]), hits, rank, base_s + sec["dfs"] + sec["score"])
    out = {"seconds": {}, "solved": {}, "ceiling": {}}
    for name, (tables, dfs_hits, ranking, seconds) in plans.items():
        tops = attempts(tables, dfs_hits, ranking)
        out["solved"][name] = all(solutions[i] in tops[i] for i in range(len(solutions)))
        out["seconds"][name] = seconds
    for label, tables, dfs_hits in (("loo", vote(task, preds["loo"]), []), ("all8", vote(task, preds["all8"]), []),
                                    ("all8+DFS", vote(task, preds["all8"]), hits)):
        out["ceiling"][label] = all(sol in pool(tables[i], dfs_hits) for i, sol in enumerate(solutions))
    out["ceiling"]["any"] = out["ceiling"]["loo"] or out["ceiling"]["all8+DFS"]
    train = stages["adapter"]["value"]
    out["train"] = {"n_examples": train["n_examples"], "n_tokens": train["n_tokens"], "seconds": train["seconds"],
                    "final_loss": train["losses"][-1] if train["losses"] else None}
    out["dfs_found"] = len({(h.test_index, grid_key(h.grid)) for h in hits})
    out["stage_seconds"] = sec
    return out


def report(rows: dict, args, info: dict) -> str:
    lines = ["## Ablation table (generated by bench/ttt_select.py)", "",
             f"- machine: {info['cpu']}, {info['cores']} cores, torch threads {args.threads}; loadavg at start "
             f"{info['load_start']}, at end {info['load']} (other helpers share the 2 cores: seconds are inflated)",
             f"- tasks: {args.dataset}, demos and test inputs <= 10x10, smallest total cells first (then id), "
             f"first {args.tasks}: {', '.join(info['chosen'])}",
             f"- model {info['model']}; adapter: preset cpu-small, trained once per task; `loo` = today's query set "
             f"(leave-one-out "
             f"prompts + 5 transforms), `all8` = all demos x 8 dihedral views, one prompt each",
             f"- DFS: threshold {args.threshold}, first {args.dfs_views} dihedral views, all demos; scoring: "
             f"K = {args.k} views", "",
             "| task | K | " + " | ".join(MAIN) + " | ceiling loo / all8 / all8+DFS | DFS grids | train s (ex.) |",
             "|---" * (len(MAIN) + 5) + "|"]
    done = {t: r for t, r in rows.items() if r is not None}
    for tid, r in done.items():
        cells = [("**yes**" if r["solved"][v] else "no") + f" {r['seconds'][v]:.0f}s" for v in MAIN]
        c = r["ceiling"]
        lines.append(f"| {tid} | {r['k']} | " + " | ".join(cells) + f" | {'/'.join('y' if c[x] else 'n' for x in ('loo', 'all8', 'all8+DFS'))}"
                     f" | {r['dfs_found']} | {r['train']['seconds']:.0f} ({r['train']['n_examples']}) |")
    n = len(done)
    if n:
        lines += ["", f"Totals over {n} tasks (solved pass@2, mean seconds per task):", "",
                  "| variant | solved | s/task |", "|---|---|---|"]
        for v in next(iter(done.values()))["solved"]:
            lines.append(f"| {v} | {sum(r['solved'][v] for r in done.values())}/{n} | "
                         f"{sum(r['seconds'][v] for r in done.values()) / n:.0f} |")
        for c in ("loo", "all8", "all8+DFS", "any"):
            lines.append(f"| ceiling {c} (right answer among candidates) | "
                         f"{sum(r['ceiling'][c] for r in done.values())}/{n} | |")
    missing = [t for t, r in rows.items() if r is None]
    if missing:
        lines += ["", f"Not run (CPU time ran out; rerun the bench to continue): {', '.join(missing)}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=16, help="how many tasks (see the module docstring)")
    ap.add_argument("--cache", default=str(ROOT / "runs/ttt_select"), help="stage cache directory")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    ap.add_argument("--budget-s", type=float, default=1500, help="start no new task after this many seconds")
    ap.add_argument("--threshold", type=float, default=0.1, help="DFS probability threshold")
    ap.add_argument("--dfs-views", type=int, default=4, help="DFS under this many inference transforms")
    ap.add_argument("--k", type=int, default=8, help="augmentation scoring views")
    ap.add_argument("--model", default=None, help="override the preset's model (e.g. smollm2-135m-arc; smoke tests: "
                    "a tiny model dir)")
    ap.add_argument("--dataset", default="arc1/training", help="where the tasks come from (default arc1/training)")
    ap.add_argument("--report-only", action="store_true", help="only rebuild the report from the cache")
    ap.add_argument("--out", default=str(ROOT / "bench/results/ttt_select_table.md"), help="report file")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from arc_core.datasets import load_dataset
    from transduction.config import preset

    ds = load_dataset(args.dataset)
    chosen = choose_tasks(ds, args.tasks)
    cfg = preset("cpu-small", {"model": args.model} if args.model else None)
    refuse_contaminated(cfg.model, chosen)
    cache = Path(args.cache)
    start = time.perf_counter()
    load_start = loadavg()
    if not args.report_only:
        from arc_lm.models import load_hf_model
        from transduction.pipeline import TransductionModel

        base, tok = load_hf_model(cfg.model, device="cpu", dtype="float32")
        tm = TransductionModel.wrap(base, tok, cfg)
        for tid in chosen:
            if time.perf_counter() - start > args.budget_s:
                print("budget spent; rerun to continue", flush=True)
                break
            run_task(ds.tasks[tid], tm, cfg, cache / tid, args)
    rows = {tid: evaluate(ds.tasks[tid], ds.solutions[tid], cache / tid, args.k) for tid in chosen}
    for tid, r in rows.items():
        if r is not None:
            r["k"] = len(ds.tasks[tid].train)
    info = {"cpu": cpu_name(), "cores": os.cpu_count(), "load": loadavg(),
            "chosen": chosen, "load_start": load_start, "model": cfg.model}
    Path(args.out).write_text(report(rows, args, info))
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
