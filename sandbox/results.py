"""Typed jobs and results of the sandbox: failures are data, never exceptions or strings in lists."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from arc_core.grid import Grid


class ExecStatus(enum.Enum):
    """Outcome of one program on one grid (and, for `ProgramResult.status`, the first non-OK grid).

    OK              transform returned a valid grid (`output` is set).
    EXCEPTION       transform (or the module-level code, or a missing `transform`) raised;
                    `error_type` is the class name (`MissingTransform` when none is defined;
                    `ModuleNotFoundError` for a module the sandbox does not offer).
    SYNTAX_ERROR    the source does not compile (SyntaxError, IndentationError, NUL bytes...).
    TIMEOUT         the wall deadline (or the CPU-time backstop) killed the program.
    MEMORY          MemoryError (the address-space limit was hit).
    CRASH           the process died without a result (os._exit, abort, a fatal signal, seccomp
                    kill) or the sandbox worker failed repeatedly while running it.
    INVALID_OUTPUT  the return value is not a 2-D grid <= 30x30 of ints 0..9, or the child sent
                    malformed/forged result bytes.
    SETUP_FAILURE   the sandbox could not confine the child (fail-closed: the program never ran).
    """

    OK = "ok"
    EXCEPTION = "exception"
    SYNTAX_ERROR = "syntax_error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASH = "crash"
    INVALID_OUTPUT = "invalid_output"
    SETUP_FAILURE = "setup_failure"


@dataclass(frozen=True)
class ProgramJob:
    """One program (source defining `transform(grid)`) to run on each of `inputs`."""

    program_id: str
    source: str
    inputs: tuple[Grid, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.program_id, str):
            raise ValueError(f"program_id must be a str, got {type(self.program_id).__name__}")
        if not isinstance(self.source, str):
            raise ValueError(f"program {self.program_id}: source must be a str, got {type(self.source).__name__}")
        if not isinstance(self.inputs, tuple) or not all(isinstance(g, Grid) for g in self.inputs):
            raise ValueError(f"program {self.program_id}: inputs must be a tuple of arc_core.grid.Grid")
        if len(self.inputs) > 255:
            raise ValueError(f"program {self.program_id}: {len(self.inputs)} inputs, at most 255")


@dataclass(frozen=True)
class GridResult:
    status: ExecStatus
    output: Grid | None = None
    error_type: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is ExecStatus.OK


@dataclass(frozen=True)
class ProgramResult:
    """Per-program result; `grids` has one entry per input, in order.

    `mode` says which execution produced it: "fork" (authoritative) or "fast" (a pre-filter
    result that was not accepted, so it was not re-run in fork mode).
    """

    program_id: str
    status: ExecStatus
    grids: tuple[GridResult, ...]
    wall_s: float
    cpu_s: float
    error: str | None = None
    mode: str = "fork"

    @property
    def ok(self) -> bool:
        return self.status is ExecStatus.OK

    @property
    def outputs(self) -> tuple[Grid | None, ...]:
        return tuple(g.output for g in self.grids)
