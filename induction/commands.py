"""`arc-hybrid induce` and `arc-hybrid verify`: thin argument parsing around the library.

`induce` builds `InduceSettings` from `--config FILE` plus `--set key=value` overrides (a key
without a section, e.g. `n_samples=4`, means `induction.n_samples`) and calls `induce_dataset`.
`verify` runs one program file (plain code, or a model response with a fenced block) on a task in
the sandbox and prints per-pair status, exact match and produced grids; with `--json` it prints
exactly one JSON object in every case, refusals and errors included (`status`: verified,
not_verified, refused, error; `reason`). Exit code 0 when verified, 1 when not (a program refused
before it ran, e.g. too large or not text, included), 2 when it could not be judged (a missing or
directory path, an unknown task, a prelude or sandbox that failed to start). The program runs only
inside the sandbox, whose children have their stdio on /dev/null, so nothing the program does can
reach this process's stdout or raise here.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from arc_core.cli import (Command, add_dataset_argument, add_prelude_argument, add_programs_argument,
                          add_task_selection_arguments, explicit_setting, parse_task_ids, safe_text)
from arc_core.config import build, load_config_file, merge, parse_overrides
from arc_core.datasets import DATASETS, load_builtin, load_dataset
from arc_core.task import Task
from induction.extract import MAX_RESPONSE_CHARS, NoProgram, extract_program
from induction.prompts import grid_digits
from induction.verify import Verification, verify_programs

_SECTIONS = ("induction", "lm", "sandbox")


# ---- induce -------------------------------------------------------------------------------------
def _induce_args(parser: argparse.ArgumentParser) -> None:
    add_dataset_argument(parser)
    add_task_selection_arguments(parser)
    parser.add_argument("--out", required=True, help="run directory (created; reruns reuse its samples)")
    add_programs_argument(parser)
    add_prelude_argument(parser)
    parser.add_argument("--config", help="TOML/YAML file with [induction], [lm] and [sandbox] tables")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. n_samples=4, lm.model=PATH, sandbox.timeout_s=2 (repeatable)")


def qualify(overrides: list[str]) -> list[str]:
    """`--set` items with bare keys moved into the `induction` section."""
    return [item if item.split("=", 1)[0].split(".")[0] in _SECTIONS else f"induction.{item}" for item in overrides]


def settings_from(config_file: str | None, overrides: list[str]) -> Any:
    """InduceSettings from an optional file and `--set` overrides (bare keys go to `induction`)."""
    from induction.run import InduceSettings

    data: dict[str, Any] = load_config_file(config_file) if config_file else {}
    return build(InduceSettings, merge(data, parse_overrides(qualify(overrides))))


def _induce_run(args: argparse.Namespace) -> int:
    from induction.run import induce_dataset

    overrides = qualify(list(args.set))
    if args.prelude is not None:
        overrides.append(f"induction.prelude_path={args.prelude}")
    if args.programs is not None and not explicit_setting(args.config, overrides, "induction.n_samples"):
        overrides.append("induction.n_samples=0")  # import only: no model is loaded, nothing sampled
    settings = settings_from(args.config, overrides)
    dataset = load_dataset(args.dataset).select(parse_task_ids(args.tasks), args.limit)
    summary = induce_dataset(dataset, settings, args.out, args.programs,
                             progress=lambda line: print(line, file=sys.stderr))
    print(f"{len(dataset)} task(s); {summary['tasks_with_verified_program']} with a verified program; "
          f"outputs in {args.out}")
    if "score" in summary:
        s = summary["score"]
        print(f"kaggle score {s['kaggle_score']:g} / {s['tasks']}, strict solved {s['strict_solved']}")
    for row in summary["import_rejected_lines"]:
        print(f"note: --programs line {row['line']} skipped: {safe_text(row['reason'])}", file=sys.stderr)
    if summary["import_task_ids_not_in_dataset"]:
        print(f"note: {len(summary['import_task_ids_not_in_dataset'])} task id(s) in --programs are not in the "
              "dataset and were ignored", file=sys.stderr)
    return 0


# ---- verify -------------------------------------------------------------------------------------
def _verify_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("program", help="Python file defining transform(grid) (or a response with a code block)")
    parser.add_argument("--task", required=True, help="task id")
    add_dataset_argument(parser, required=False)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_prelude_argument(parser)
    parser.add_argument("--timeout", type=float, help="per-program wall-clock limit in seconds")


def find_task(task_id: str, dataset_name: str | None) -> Task:
    """The task from the named dataset, or from the one built-in dataset that holds it."""
    if dataset_name is None:
        # Search the built-in datasets in registry order, loading only as many as needed.
        for name in DATASETS:
            if task_id in load_builtin(name).tasks:
                return load_builtin(name).tasks[task_id]
        raise ValueError(f"task {task_id} is in no built-in dataset; pass --dataset NAME_OR_PATH")
    dataset = load_dataset(dataset_name)
    if task_id not in dataset.tasks:
        raise KeyError(f"task {task_id} is not in dataset {dataset.name}")
    return dataset.tasks[task_id]


class ProgramRefused(ValueError):
    """The program was judged without running it (too large, not valid text)."""


def verify_source(task: Task, source: str, sandbox_config: Any) -> Verification:
    """Run `source` (extracted from a response if it is one) on the task in a fresh sandbox.

    Raises ProgramRefused for a source that is not run at all."""
    from sandbox import Sandbox

    extraction = extract_program(source)
    if extraction.reason in (NoProgram.TOO_LARGE, NoProgram.INVALID_TEXT):
        raise ProgramRefused(f"program not run: {extraction.reason.value}: {safe_text(extraction.detail)}")
    code = extraction.code if extraction.code is not None else source  # let the sandbox report the error
    with Sandbox(sandbox_config) as sandbox:
        (verification,) = verify_programs(task, [_AdHoc(code)], sandbox)
    return verification


@dataclasses.dataclass(frozen=True)
class _AdHoc:
    """The minimal program record `verify_programs` needs for a user-given file."""

    source: str
    id: str = "program"


def _error(error_type: str | None, error: str | None, status: str) -> str | None:
    if error_type:
        return f"{error_type}: {error}" if error else error_type
    return error if error else (None if status == "ok" else status)


def verification_json(v: Verification) -> dict[str, Any]:
    failed = next((f"train[{i}]: " + (_error(p.error_type, p.error, p.status) or "wrong output")
                   for i, p in enumerate(v.train) if not (p.status == "ok" and p.exact)), None)
    return {
        "verified": v.verified,
        "status": "verified" if v.verified else "not_verified",
        "reason": None if v.verified else safe_text(failed or "no demonstration pair matched"),
        "train": [{"status": p.status, "exact": p.exact, "output": p.output.to_list() if p.output else None,
                   "error": _error(p.error_type, p.error, p.status)} for p in v.train],
        "test": [{"status": t.status, "output": t.output.to_list() if t.output else None} for t in v.test],
    }


def _print_text(v: Verification) -> None:
    """Per-pair lines; everything the program controls (error messages) is escaped by `safe_text`,
    so no output of a program can start a line of its own (e.g. a forged "verified")."""
    rows = [(f"train[{i}]: {p.status} exact={'yes' if p.exact else 'no'}"
             + ("" if p.cell_accuracy is None else f" cells={p.cell_accuracy:.2f}"), p.output,
             _error(p.error_type, p.error, p.status)) for i, p in enumerate(v.train)]
    rows += [(f"test[{i}]: {t.status}", t.output, _error(t.error_type, t.error, t.status)) for i, t in enumerate(v.test)]
    for head, output, err in rows:
        print(safe_text(head))
        if output is not None:
            print(grid_digits(output))
        if err:
            print(f"  error: {safe_text(err)}")
    print("verified" if v.verified else "not verified")


def _read_program(path: Path, max_chars: int) -> str:
    """The program file's text; at most enough bytes to tell that it is over `max_chars`."""
    if path.is_dir():
        raise IsADirectoryError(f"program {path} is a directory; expected a Python file or a model response")
    if not path.is_file():
        raise FileNotFoundError(f"program file not found: {path}")
    with open(path, "rb") as f:
        data = f.read(4 * max_chars + 4)  # UTF-8: at most 4 bytes a character
    return data.decode("utf-8", errors="replace")


def _verdict(status: str, reason: str) -> dict[str, Any]:
    return {"verified": False, "status": status, "reason": safe_text(reason), "train": [], "test": []}


def _verify_run(args: argparse.Namespace) -> int:
    from sandbox import SandboxConfig, SandboxError

    try:
        source = _read_program(Path(args.program), MAX_RESPONSE_CHARS)
        task = find_task(args.task, args.dataset)
        overrides: dict[str, Any] = {}
        if args.prelude:
            overrides["prelude_path"] = args.prelude
        if args.timeout is not None:
            overrides["timeout_s"] = args.timeout
        verification = verify_source(task, source, SandboxConfig(**overrides))
    except ProgramRefused as e:
        print(json.dumps(_verdict("refused", str(e))) if args.json else f"refused: {safe_text(str(e))}\nnot verified")
        return 1
    except (OSError, ValueError, KeyError, SandboxError) as e:
        if not args.json:
            raise  # the CLI edge prints it as one line, exit code 2
        msg = (str(e)[1:-1] if isinstance(e, KeyError) else str(e)) or type(e).__name__
        print(json.dumps(_verdict("error", msg)))
        print(f"arc-hybrid: error: {safe_text(msg.strip().splitlines()[0] if msg.strip() else msg)}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(verification_json(verification)))
    else:
        _print_text(verification)
    return 0 if verification.verified else 1


COMMANDS = (
    Command("induce", "sample programs with a language model (or import them), verify them in the sandbox, "
            "and write candidates and a submission", _induce_args, _induce_run),
    Command("verify", "run one program file on a task's demonstrations and test inputs in the sandbox "
            "(exit code 0 when it is verified, 1 when not or refused, 2 when it cannot be judged)",
            _verify_args, _verify_run),
)

__all__ = ["COMMANDS", "ProgramRefused", "find_task", "settings_from", "verification_json", "verify_source"]
