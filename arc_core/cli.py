"""The shape of a CLI subcommand, shared by every package's `commands.py`.

Each package lists its subcommands in a module-level `COMMANDS` tuple; `ensemble.cli` collects
them into one `arc-hybrid` parser. A handler gets the parsed `argparse.Namespace` and returns an
exit code. Handlers raise ordinary exceptions for user errors (ValueError, FileNotFoundError,
KeyError, ...); `ensemble.cli.main` turns them into one line on stderr and exit code 2 (a full
traceback with `--debug`).
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def add_dataset_argument(parser: argparse.ArgumentParser, required: bool = True, default: str | None = None) -> None:
    """The shared --dataset flag: a registered dataset name or a path to a file/directory."""
    parser.add_argument(
        "--dataset",
        required=required and default is None,
        default=default,
        help="dataset name (see `arc-hybrid datasets`) or a path: a Kaggle challenges JSON file, "
        "a directory of per-task JSON files, or one task JSON file",
    )


def add_task_selection_arguments(parser: argparse.ArgumentParser) -> None:
    """The shared --tasks / --limit flags."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--tasks", help="comma-separated task ids to run (default: all)")
    group.add_argument("--limit", type=int, help="run only the first N task ids in sorted order")


def add_programs_argument(parser: argparse.ArgumentParser) -> None:
    """The shared --programs flag of `induce` and `run`."""
    parser.add_argument(
        "--programs",
        help="JSONL file of {task_id, responses|code} records to import as induction samples and verify; "
        "without an explicit induction.n_samples (--set or --config) this is an import only: no model is "
        "loaded and nothing is sampled for induction. A malformed line is skipped and reported; an oversized "
        "or invalid text fails on its own",
    )


def add_prelude_argument(parser: argparse.ArgumentParser) -> None:
    """The shared --prelude flag of `induce`, `run` and `verify`."""
    parser.add_argument(
        "--prelude", metavar="FILE",
        help="Python file importable as `common` by the programs (e.g. BARC's common.py for "
        "BARC-model output that starts with `from common import *`)",
    )


def explicit_setting(config_file: str | Path | None, overrides: list[str], key: str) -> bool:
    """Whether `key` ("section.name") is set by a `--config` file or a `--set key=value` override."""
    from arc_core.config import load_config_file

    if any(item.split("=", 1)[0].strip() == key for item in overrides):
        return True
    if config_file is None:
        return False
    node: object = load_config_file(config_file)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def parse_task_ids(value: str | None) -> list[str] | None:
    if value is None:
        return None
    ids = [t.strip() for t in value.split(",") if t.strip()]
    if not ids:
        raise ValueError("--tasks is empty")
    return ids


_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})  # controls, format (bidi), surrogates, separators


def safe_text(text: object, keep: str = "") -> str:
    """`text` for a terminal line: control and format characters (newlines, ESC, bidi overrides,
    lone surrogates, ...) escaped as `\\n`, `\\x1b`, `\\u202e`, except those in `keep`.

    Text from programs and imported records (exception messages, ids, sources) goes through this
    before text-mode output, so it can neither start a line that looks like the tool's own
    (a fake "verified") nor recolour the terminal nor crash `print` with an unencodable character.
    """
    import unicodedata

    out = []
    for ch in str(text):
        if ch in keep or unicodedata.category(ch) not in _UNSAFE_CATEGORIES:
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1] if ch not in "\\'" else ch)
    return "".join(out)
