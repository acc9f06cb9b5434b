"""`arc-hybrid`: the one command-line entry point. Thin: it parses arguments and dispatches.

Subcommands come from each package's `commands.COMMANDS`. Any exception a handler raises becomes
one line on stderr and exit code 2, unless `--debug` is given (then the traceback is shown).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from arc_core.cli import Command

# Order = order in `--help`. Each module defines COMMANDS: tuple[Command, ...].
_COMMAND_MODULES = (
    "arc_core.commands",
    "sandbox.commands",
    "arc_lm.commands",
    "induction.commands",
    "transduction.commands",
    "ensemble.commands",
    "ensemble.bundle_commands",
)


def _commands() -> list[Command]:
    found: list[Command] = []
    for mod_name in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name == mod_name:  # package has no commands (yet)
                continue
            raise
        found.extend(mod.COMMANDS)
    names = [c.name for c in found]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, f"duplicate subcommands: {dupes}"
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arc-hybrid",
        description="Solve ARC-AGI tasks with test-time training and sandboxed program synthesis.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in _commands():
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show full tracebacks on errors")
        cmd.add_arguments(p)
        p.set_defaults(_handler=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._handler(args) or 0)
    except KeyboardInterrupt:
        print("arc-hybrid: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # the CLI edge: report, never hide, the failure
        if getattr(args, "debug", False):
            raise
        # The whole message: a multi-line one carries its cause (a child's stderr, a traceback's tail).
        msg = str(e).strip() or type(e).__name__
        if len(msg) > 4000:
            msg = msg[:2000] + "\n[...]\n" + msg[-2000:]
        if isinstance(e, KeyError) and msg.startswith(("'", '"')):
            msg = msg[1:-1]
        print(f"arc-hybrid: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
