"""Turn one RESULT frame from the zygote into a `ProgramResult`, re-parsing every byte strictly.

The zygote already checked the payload; this second parse is what the orchestrator trusts. Grids
are rebuilt as tuples of ints and validated again by `Grid.parse`; nothing a child made is ever
unpickled, evaluated or compared with `__eq__`.
"""
from __future__ import annotations

import signal

from arc_core.grid import Grid

from .inside import wire
from .results import ExecStatus, GridResult, ProgramJob, ProgramResult

_SETUP_EXIT = 97


def _signame(signo: int) -> str:
    try:
        return signal.Signals(signo).name
    except ValueError:
        return f"signal {signo}"


def _missing(outcome: int, detail: int, cpu_s: float, cpu_limit_s: int, done: int, n: int) -> GridResult:
    """The result for grids the child never reported, from how it ended."""
    if outcome == wire.OUTCOME_TIMEOUT:
        return GridResult(ExecStatus.TIMEOUT, error_type="Timeout", error="wall-clock deadline exceeded")
    if outcome == wire.OUTCOME_PROTOCOL:
        return GridResult(ExecStatus.INVALID_OUTPUT, error_type="ProtocolError",
                          error="the child sent malformed or oversized result bytes")
    if outcome == wire.OUTCOME_SIGNALED:
        if detail == signal.SIGKILL and cpu_s >= cpu_limit_s - 0.05:
            return GridResult(ExecStatus.TIMEOUT, error_type="Timeout", error="CPU-time limit exceeded")
        why = " (forbidden syscall ABI, killed by seccomp)" if detail == signal.SIGSYS else ""
        return GridResult(ExecStatus.CRASH, error_type=_signame(detail),
                          error=f"killed by {_signame(detail)}{why} after {done} of {n} grids")
    return GridResult(ExecStatus.CRASH, error_type="Exit",
                      error=f"process exited with code {detail} after {done} of {n} grids")


def _grid_result(rec: tuple) -> GridResult:
    kind = rec[0]
    if kind == wire.GRID:
        # wire.next_record built `rows` itself from checked bytes: a tuple of 1..30 tuples of
        # equal length 1..30 holding ints 0..9, which is exactly what Grid.parse would accept.
        return GridResult(ExecStatus.OK, output=Grid(rec[1]))
    if kind == wire.EXC:
        status = ExecStatus.MEMORY if rec[1] == "MemoryError" else ExecStatus.EXCEPTION
        return GridResult(status, error_type=rec[1], error=rec[2])
    assert kind == wire.BADOUT, kind
    return GridResult(ExecStatus.INVALID_OUTPUT, error_type="InvalidOutput", error=rec[1])


def _program_error(rec: tuple) -> GridResult:
    _, kind, cls, msg = rec
    if kind == wire.PROGERR_COMPILE:
        return GridResult(ExecStatus.SYNTAX_ERROR, error_type=cls, error=msg)
    status = ExecStatus.MEMORY if cls == "MemoryError" else ExecStatus.EXCEPTION
    prefix = "" if kind == wire.PROGERR_NO_TRANSFORM else "at module level: "
    return GridResult(status, error_type=cls, error=prefix + msg)


def decode(job: ProgramJob, outcome: int, detail: int, wall_us: int, cpu_us: int, payload: bytes,
           cpu_limit_s: int, mode: str) -> ProgramResult:
    n = len(job.inputs)
    wall_s, cpu_s = wall_us / 1e6, cpu_us / 1e6
    try:
        armed, records = wire.parse_program(payload, n)
    except wire.WireError:
        armed, records, outcome = True, [], wire.OUTCOME_PROTOCOL
    if outcome == wire.OUTCOME_SPAWN_FAILED or not armed:
        why = (f"fork failed (errno {detail})" if outcome == wire.OUTCOME_SPAWN_FAILED
               else "the child could not be confined (fail-closed; see `arc-hybrid sandbox-info`)"
               if outcome == wire.OUTCOME_EXITED and detail == _SETUP_EXIT
               else f"the child ended before confinement completed (outcome {outcome}, {detail})")
        grids = (GridResult(ExecStatus.SETUP_FAILURE, error_type="SetupFailure", error=why),) * n
        return ProgramResult(job.program_id, ExecStatus.SETUP_FAILURE, grids, wall_s, cpu_s, why, mode)
    if records and records[0][0] == wire.PROGERR:
        g = _program_error(records[0])
        return ProgramResult(job.program_id, g.status, (g,) * n, wall_s, cpu_s,
                             f"{g.error_type}: {g.error}", mode)
    grids = [_grid_result(r) for r in records]
    if len(grids) < n:
        grids += [_missing(outcome, detail, cpu_s, cpu_limit_s, len(grids), n)] * (n - len(grids))
    bad = next(((i, g) for i, g in enumerate(grids) if not g.ok), None)
    if bad is None:
        return ProgramResult(job.program_id, ExecStatus.OK, tuple(grids), wall_s, cpu_s, None, mode)
    i, g = bad
    return ProgramResult(job.program_id, g.status, tuple(grids), wall_s, cpu_s,
                         f"grid {i}: {g.error_type}: {g.error}", mode)


def failed(job: ProgramJob, status: ExecStatus, error: str, mode: str) -> ProgramResult:
    """A result for a program the orchestrator had to give up on (e.g. the zygote kept dying)."""
    g = GridResult(status, error_type=status.name.title().replace("_", ""), error=error)
    return ProgramResult(job.program_id, status, (g,) * len(job.inputs), 0.0, 0.0, error, mode)
