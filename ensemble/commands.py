"""The ensemble's subcommands: `run`, `task`, `programs`, `report`.

Thin: each handler parses its flags, builds the config or opens the run store, calls one library
function and prints. Errors are raised (ValueError, FileNotFoundError, KeyError) and turned into
one line by `ensemble.cli.main`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arc_core.cli import (Command, add_prelude_argument, add_programs_argument, add_task_selection_arguments,
                          explicit_setting, parse_task_ids, safe_text)


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None,
                   help="dataset name or path (default: the preset's dataset, e.g. arc1/training for cpu-demo)")
    add_task_selection_arguments(p)
    p.add_argument("--out", required=True, type=Path, help="run directory (created; an existing one is resumed)")
    p.add_argument("--config", type=Path, help="TOML or YAML run configuration file")
    p.add_argument("--preset", help="run preset: cpu-demo, cpu-small, paper-1b, paper-8b (file and --set go on top)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set induction.n_samples=16 (repeatable)")
    add_programs_argument(p)
    add_prelude_argument(p)
    p.add_argument("--no-induction", action="store_true", help="do not run induction (program synthesis)")
    p.add_argument("--no-transduction", action="store_true", help="do not run transduction (TTT)")
    p.add_argument("--retry-failed", action="store_true", help="rerun stages recorded as failed")
    p.add_argument("--time-budget", metavar="DURATION", default=None,
                   help="wall-clock budget of this invocation: 240 (seconds), 90m, 12h, 1h30m; work is scaled to "
                        "fit and submission.json is complete before it ends (see ensemble/timebudget.py)")
    p.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the solver stages on a Ray cluster: no ADDRESS starts a local one (or uses the "
                        "config's ray.address), 'auto' joins the one started here by `ray start`, HOST:PORT "
                        "joins that one; see [ray] settings in ensemble/ray_config.py")


def _run(args: argparse.Namespace) -> int:
    import time

    started = time.monotonic()  # the budget counts from here (start-up and planning included)
    from rich.console import Console

    from ensemble.config import build_run_config
    from ensemble.runner import RunOptions, run
    from ensemble.store import RunStore
    from ensemble.summary import summarise, summary_table

    overrides = list(args.overrides)
    if args.prelude is not None:
        overrides.append(f"induction.prelude_path={args.prelude}")
    if args.programs is not None and not explicit_setting(args.config, overrides, "induction.n_samples"):
        overrides.append("induction.n_samples=0")  # import only: no model is loaded for induction
    if args.no_induction:
        overrides.append("ensemble.induction=false")
    if args.no_transduction:
        overrides.append("ensemble.transduction=false")
    ids = parse_task_ids(args.tasks)
    top: dict = {"dataset": args.dataset}
    if ids is not None or args.limit is not None or args.dataset is not None:
        # An explicit dataset or selection replaces the preset's/file's task list.
        top.update(tasks=tuple(ids or ()), limit=args.limit)
    if args.ray is not None:
        top["ray"] = {"enabled": True, **({"address": args.ray} if args.ray else {})}
    if args.time_budget is not None:
        from ensemble.timebudget import parse_duration

        top["budget"] = {"seconds": parse_duration(args.time_budget)}
    cfg = build_run_config(args.preset, args.config, overrides, **top)
    if cfg.ray.enabled:
        from ensemble.ray_exec import require_ray

        require_ray()  # fail in one line before a run directory is made
    dataset = run(cfg, args.out, RunOptions(args.programs, args.retry_failed, started))
    console = Console()
    with RunStore(args.out, create=False) as store:
        console.print(summary_table(summarise(store, dataset), title=f"arc-hybrid run: {args.out}"))
        for line, reason in store.get_meta("import_rejected_lines", []) or []:
            print(f"note: --programs line {line} skipped: {safe_text(reason)}", file=sys.stderr)
    console.print(f"submission: {args.out / 'submission.json'}")
    return 0


def _add_task(p: argparse.ArgumentParser) -> None:
    p.add_argument("task_id", help="task id")
    p.add_argument("--run", required=True, type=Path, help="run directory (of `run`, `induce` or `transduce`)")
    p.add_argument("--style", choices=("auto", "ansi", "plain"), default="auto", help="grid rendering style")


def _task(args: argparse.Namespace) -> int:
    from ensemble.rundir import open_run
    from ensemble.views import task_text

    store, dataset = open_run(args.run)
    with store:
        sys.stdout.write(task_text(store, dataset, args.task_id, args.style))
    return 0


def _add_programs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, type=Path, help="run directory (of `run` or `induce`)")
    p.add_argument("--task", help="only this task's programs")
    p.add_argument("--status", choices=("verified", "failed", "error"), help="only programs with this status")
    p.add_argument("--show", metavar="PROGRAM_ID", help="print one program's source and outputs")
    p.add_argument("--json", action="store_true",
                   help="print one JSON list: every program with task, multiplicity, verified flag, per-pair status")


def _programs(args: argparse.Namespace) -> int:
    from ensemble.rundir import open_run
    from ensemble.views import program_text, programs_json, programs_table

    store, dataset = open_run(args.run)
    with store:
        if args.json:
            print(json.dumps(programs_json(store, args.task, args.status)))
        elif args.show:
            sys.stdout.write(program_text(store, dataset, args.show, args.task))
        else:
            sys.stdout.write(programs_table(store, args.task, args.status))
    return 0


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, help="run directory (of `run`, `induce` or `transduce`)")
    p.add_argument("--out", type=Path, help="output file (default RUN_DIR/report.html)")


def _report(args: argparse.Namespace) -> int:
    from ensemble.report import write_report
    from ensemble.rundir import open_run

    store, dataset = open_run(args.run_dir)
    with store:
        path = write_report(store, dataset, args.out or args.run_dir / "report.html")
    print(f"report: {path}")
    return 0


COMMANDS = (
    Command("run", "run induction + transduction + ensemble on a dataset (resumable)", _add_run, _run),
    Command("task", "show one task of a run: grids, candidates, programs, attempts, correctness", _add_task, _task),
    Command("programs", "list a run's programs with multiplicity and per-pair results", _add_programs, _programs),
    Command("report", "write RUN_DIR/report.html, a self-contained offline report", _add_report, _report),
)
