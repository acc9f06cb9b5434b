"""`arc-hybrid` subcommands of the domain package: `datasets`, `show`, `score`.

Handlers only parse arguments and call library functions; user errors are raised as exceptions,
which `ensemble.cli.main` turns into one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

from arc_core import render
from arc_core.cli import Command, add_dataset_argument
from arc_core.datasets import DATASETS, builtin_containing, load_builtin, load_dataset
from arc_core.scoring import score
from arc_core.submission import read_submission
from arc_core.task import Dataset

FORMATS = ("auto", "ansi", "plain", "svg", "png")


# ---- datasets ------------------------------------------------------------------------------------


def _datasets_args(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def _datasets_run(args: argparse.Namespace) -> int:
    del args
    width = max(len(n) for n in DATASETS)
    print(f"{'name':<{width}}  {'tasks':>5}  {'known outputs':>13}  description")
    for name, spec in DATASETS.items():
        ds = load_builtin(name)
        print(f"{name:<{width}}  {len(ds):>5}  {len(ds.solutions):>13}  {spec.description}")
    print("\n--dataset also takes a path: a Kaggle *_challenges.json file (with its sibling "
          "*_solutions.json), a directory of task JSON files, or one task JSON file.")
    return 0


# ---- show ----------------------------------------------------------------------------------------


def _show_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task_id", metavar="TASK_ID", help="id of the task to show, e.g. 007bbfb7")
    add_dataset_argument(parser, required=False)
    parser.add_argument("--reveal", action="store_true",
                        help="also show the test outputs (hidden by default)")
    parser.add_argument("--format", choices=FORMATS, default="auto",
                        help="auto (ansi on a terminal, plain otherwise), ansi, plain, svg or png")
    parser.add_argument("--out", type=Path,
                        help="write the rendering to this file (required for png; default: stdout)")


def _did_you_mean(task_id: str, ids: list[str]) -> str:
    close = difflib.get_close_matches(task_id, ids, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def _find_task(task_id: str, dataset: str | None) -> Dataset:
    """The dataset holding `task_id`: the one named, else the first built-in one that has it."""
    if dataset is not None:
        ds = load_dataset(dataset)
        if task_id not in ds.tasks:
            hint = _did_you_mean(task_id, ds.ids())
            raise KeyError(f"task {task_id} is not in dataset {ds.name} ({len(ds)} tasks){hint}")
        return ds
    names = builtin_containing(task_id)
    if not names:
        hint = _did_you_mean(task_id, sorted({t for n in DATASETS for t in load_builtin(n).tasks}))
        raise KeyError(f"task {task_id} is in none of the built-in datasets ({', '.join(DATASETS)}){hint}; "
                       "pass --dataset for another source")
    return load_builtin(names[0])


def _show_run(args: argparse.Namespace) -> int:
    ds = _find_task(args.task_id, args.dataset)
    task = ds.tasks[args.task_id]
    solutions = None
    if args.reveal:
        if args.task_id not in ds.solutions:
            raise ValueError(f"task {args.task_id}: dataset {ds.name} has no test outputs to reveal")
        solutions = ds.solutions[args.task_id]
    fmt = args.format
    if fmt == "auto":
        fmt = render.default_style(sys.stdout) if args.out is None else "plain"
    if fmt == "png":
        if args.out is None:
            raise ValueError("--format png needs --out FILE")
        args.out.write_bytes(render.task_png(task, solutions))
        print(f"wrote {args.out}", file=sys.stderr)
        return 0
    if fmt == "svg":
        text = render.task_svg(task, solutions)
    else:
        text = f"[{ds.name}] " + render.render_task(task, solutions, fmt)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


# ---- score ---------------------------------------------------------------------------------------


def _score_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("submission", metavar="SUBMISSION", type=Path,
                        help="Kaggle submission JSON: {task_id: [{attempt_1: grid, attempt_2: grid}, ...]}")
    add_dataset_argument(parser, required=True)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (tasks, kaggle_score, strict_solved, per_task, ...)")


def _score_run(args: argparse.Namespace) -> int:
    attempts = read_submission(args.submission)
    ds = load_dataset(args.dataset)
    missing = [t for t in attempts if t not in ds.tasks]
    if missing:
        raise KeyError(f"{args.submission}: task {missing[0]} is not in dataset {ds.name}"
                       + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    report = score(attempts, ds)
    if args.json:
        print(report.to_json())
    else:
        print(f"{args.submission} on {ds.name}")
        print(report.summary())
    return 0


# ---- overlap -----------------------------------------------------------------------------------
def _overlap_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="reference dataset (name or path), e.g. arc2/training, or a fine-tuned model "
                        "directory (its training_provenance.json: training datasets and re-ARC generator ids)")
    parser.add_argument("b", help="dataset whose tasks are looked up in A, e.g. arc1/evaluation")
    parser.add_argument("--json", action="store_true", help='print {"overlap": [...], "by_id": n, "by_content": n}')


def _overlap_run(args: argparse.Namespace) -> int:
    from arc_core.overlap import load_reference, overlap_report

    a, trained, what = load_reference(args.a)
    b = load_dataset(args.b)
    report = overlap_report(a, [b.tasks[t] for t in b.ids()], trained)
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{len(report['overlap'])} of {len(b.tasks)} tasks of {args.b} found in {what}: "
              f"{report['by_id']} by id, {report['by_content']} by grid content"
              + (f", {report['by_provenance']} by training provenance" if trained else ""))
        for tid in report["overlap"]:
            print(tid, "", report["why"][tid])
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("datasets", "list the built-in datasets with their task counts", _datasets_args, _datasets_run),
    Command("show", "render one task in the terminal, or as SVG/PNG", _show_args, _show_run),
    Command("overlap", "task ids of dataset B found in dataset A, by id and by grid content", _overlap_args,
            _overlap_run),
    Command("score", "score a Kaggle submission file against a dataset's known outputs", _score_args, _score_run),
)
