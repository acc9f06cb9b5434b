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


def parse_task_ids(value: str | None) -> list[str] | None:
    if value is None:
        return None
    ids = [t.strip() for t in value.split(",") if t.strip()]
    if not ids:
        raise ValueError("--tasks is empty")
    return ids
