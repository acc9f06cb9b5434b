"""The orchestrator side: `Sandbox` routes each program to a zygote lane (sandbox/lanes.py),
feeds it jobs just in time, reads RESULT frames with a watchdog, and replaces a zygote that dies
or stalls (zygote_process.py holds the process itself). It never forks workers from itself and
never runs candidate code.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from . import bwrap, decode, lanes, prelude
from .config import SandboxConfig
from .inside import wire
from .results import ExecStatus, ProgramJob, ProgramResult
from .zygote_process import SandboxError, ZygoteProcess, frame

log = logging.getLogger(__name__)
_MAX_ATTEMPTS = 2  # a program in flight when the zygote died twice is recorded as CRASH
# Replacements of one lane's zygote in a row without a single result in between: the zygote cannot
# work here (e.g. a prelude that answers HELLO and then never serves), so stop with an error.
_MAX_FRUITLESS_RESTARTS = 3

__all__ = ["Sandbox", "SandboxError", "program_seed", "run_programs"]


def program_seed(base: int, source: str) -> int:
    """Seed for one program: a function of the config seed and the source only (dedupe-safe)."""
    digest = hashlib.sha256(f"{base}\0{source}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big")


class Sandbox:
    """Zygotes for one configuration. Use as a context manager; `run(jobs)` may be called many times.

    Lane 0 pre-imports `config.modules`; lane i >= 1 also tier i - 1 of `config.module_tiers`;
    lanes start on first use. `pid`, `hello` and `start()` refer to the primary lane (the one
    the prelude alone needs). Not thread-safe: use one Sandbox per thread.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        tiers = self.config.module_tiers
        # The prelude and the sibling modules it imports, read here and sent to each zygote (which
        # never touches their directory); every file counts for the lane (sandbox/prelude.py).
        path = self.config.prelude_path
        self.prelude = prelude.collect(path) if path else ()
        self._prelude_needs = prelude.lane_needs(self.prelude, tiers)
        self.read_paths = bwrap.python_paths()
        self.bwrap_active, self.bwrap_reason = self._decide_bwrap()
        self._lanes: list[ZygoteProcess | None] = [None] * (len(tiers) + 1)
        self.primary = lanes.pick(self._prelude_needs, tiers)
        self._seq = 0
        self.restarts = 0

    def _decide_bwrap(self) -> tuple[bool, str]:
        if self.config.bwrap == "off":
            return False, "disabled by config (bwrap='off')"
        works, reason = bwrap.probe(tuple(self.read_paths))
        if not works and self.config.bwrap == "on":
            raise SandboxError(f"bwrap='on' but bubblewrap does not work here: {reason}")
        if not works:
            log.warning("sandbox: running without bubblewrap: %s", reason)
        return works, reason

    def lane_of(self, source: str) -> int:
        """The lane a program runs in (0 = base zygote), given the prelude."""
        own = lanes.needs(source, self.config.module_tiers)
        needed = None if own is None or self._prelude_needs is None else own | self._prelude_needs
        return lanes.pick(needed, self.config.module_tiers)

    def _lane(self, i: int) -> ZygoteProcess:
        lane = self._lanes[i]
        if lane is None:
            extra = self.config.module_tiers[i - 1] if i else ()
            lane = self._lanes[i] = ZygoteProcess(self.config, self.config.modules + extra, self.read_paths,
                                                  self.bwrap_active, self.prelude)
        if lane.proc is None:
            lane.start()
            if self.config.landlock == "auto" and not lane.hello.get("landlock_abi") and i == self.primary:
                log.warning("sandbox: running without Landlock: %s", lane.hello.get("landlock"))
        return lane

    # ---- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """Host pid of the primary lane's process (bwrap, or the zygote itself without bwrap)."""
        lane = self._lanes[self.primary]
        return lane.pid if lane is not None else None

    @property
    def hello(self) -> dict:
        """Startup facts the primary lane's zygote reported (layers, modules)."""
        lane = self._lanes[self.primary]
        return lane.hello if lane is not None else {}

    def start(self) -> None:
        self._lane(self.primary)

    def close(self) -> None:
        for lane in self._lanes:
            if lane is not None:
                lane.close()

    # ---- running --------------------------------------------------------------------------
    def run(self, jobs: Sequence[ProgramJob],
            accept: Callable[[ProgramJob, ProgramResult], bool] | None = None) -> list[ProgramResult]:
        """Run every job; results come back in job order, one GridResult per input grid.

        Identical (source, inputs) jobs run once. In fast mode every job first runs in a reused
        worker; a result is re-run in fork mode (and replaced) when `accept(job, result)`
        (default: all grids OK) holds, and when it is a failure (not a valid grid for every
        input) of a program that ran after another one in its worker, since an earlier program
        can leave state behind that fails a later one. So a fast-mode result is only ever kept
        when it was rejected and either returned a valid grid for every input or ran in a fresh
        process (a worker is retired after any failure).
        """
        jobs = list(jobs)
        for j in jobs:
            if not isinstance(j, ProgramJob):
                raise ValueError(f"expected ProgramJob, got {type(j).__name__}")
        first: dict[tuple, int] = {}
        unique: list[ProgramJob] = []
        index = []
        for j in jobs:
            key = (j.source, j.inputs)
            if key not in first:
                first[key] = len(unique)
                unique.append(j)
            index.append(first[key])
        lanes_of = [self.lane_of(j.source) for j in unique]  # parsed once, also for the re-runs
        results, reused = self._execute(unique, lanes_of, self.config.mode)
        if self.config.mode == "fast":
            accept = accept or (lambda job, result: result.ok)
            redo = [i for i, (j, r) in enumerate(zip(unique, results)) if accept(j, r) or (not r.ok and reused[i])]
            again, _ = self._execute([unique[i] for i in redo], [lanes_of[i] for i in redo], "fork")
            for i, r in zip(redo, again):
                results[i] = r
        out = []
        for j, i in zip(jobs, index):
            r = results[i]
            out.append(r if r.program_id == j.program_id else _renamed(r, j.program_id))
        return out

    def _execute(self, jobs: list[ProgramJob], lanes_of: list[int], mode: str) -> tuple[list[ProgramResult], list[int]]:
        """Run `jobs` lane by lane (each lane uses every worker); results in job order, with how
        many programs each one's process had run before it (fast mode; 0 = a fresh process)."""
        by_lane: dict[int, list[int]] = {}
        for i, lane in enumerate(lanes_of):
            by_lane.setdefault(lane, []).append(i)
        results: list[ProgramResult | None] = [None] * len(jobs)
        reused = [0] * len(jobs)
        for lane in sorted(by_lane):
            idx = by_lane[lane]
            got, before = self._execute_in(lane, [jobs[i] for i in idx], mode)
            for i, r, n in zip(idx, got, before):
                results[i], reused[i] = r, n
        assert all(r is not None for r in results)
        return results, reused  # type: ignore[return-value]

    def _job_frame(self, job: ProgramJob, seq: int, mode: str, cache: dict[tuple, str]) -> bytes:
        grids = cache.get(job.inputs)
        if grids is None:
            grids = cache[job.inputs] = json.dumps([g.rows for g in job.inputs], separators=(",", ":"))
        body = (f'{{"op":"job","seq":{seq},"mode":"{mode}","seed":{program_seed(self.config.seed, job.source)},'
                f'"grids":{grids},"source":{json.dumps(job.source)}}}').encode()
        return len(body).to_bytes(4, "big") + body

    def _execute_in(self, lane_index: int, jobs: list[ProgramJob], mode: str) -> tuple[list[ProgramResult], list[int]]:
        results: list[ProgramResult | None] = [None] * len(jobs)
        reused = [0] * len(jobs)
        pending = deque(range(len(jobs)))
        inflight: dict[int, int] = {}  # seq -> job index
        attempts = [0] * len(jobs)
        window = 2 * self.config.workers + 2  # just in time: the zygote never holds the whole queue
        outbuf = bytearray()
        grids_json: dict[tuple, str] = {}  # programs of one task share their inputs: encode once
        last_progress = time.monotonic()
        fruitless = 0
        lane = self._lane(lane_index)
        while pending or inflight:
            if lane.proc is None:
                lane = self._lane(lane_index)
                last_progress = time.monotonic()
            while pending and len(inflight) < window:
                i = pending.popleft()
                self._seq += 1
                inflight[self._seq] = i
                attempts[i] += 1
                outbuf += self._job_frame(jobs[i], self._seq, mode, grids_json)
            try:
                alive = lane.pump(outbuf)
                for seq, outcome, detail, wall, cpu, before, payload in lane.frames():
                    i = inflight.pop(seq, None)
                    if i is None:
                        raise wire.WireError(f"result for unknown sequence number {seq}")
                    reused[i] = before
                    fruitless = 0
                    results[i] = decode.decode(jobs[i], outcome, detail, wall, cpu, payload,
                                               self.config.cpu_limit_s, mode)
                    last_progress = time.monotonic()
            except (wire.WireError, OSError) as e:
                alive, why = False, f"protocol error from the zygote: {e}"
            else:
                why = "the zygote exited"
            stalled = inflight and time.monotonic() - last_progress > self.config.watchdog
            if not alive or stalled:
                why = f"no progress for {self.config.watchdog:.1f}s (watchdog)" if alive else why
                log.warning("sandbox: replacing the zygote (lane %d): %s", lane_index, why)
                lane.kill()
                self.restarts += 1
                fruitless += 1
                if fruitless >= _MAX_FRUITLESS_RESTARTS:
                    raise SandboxError(f"the sandbox zygote (lane {lane_index}) was replaced {fruitless} times in "
                                       f"a row without returning a single result; last: {why}")
                outbuf.clear()
                for i in sorted(inflight.values(), reverse=True):
                    if attempts[i] >= _MAX_ATTEMPTS:
                        results[i] = decode.failed(jobs[i], ExecStatus.CRASH,
                                                   f"the sandbox zygote failed while running this program: {why}", mode)
                    else:
                        pending.appendleft(i)
                inflight.clear()
        if mode == "fast" and lane.proc is not None:  # a worker a program kept must not serve the next run
            outbuf += frame({"op": "retire_idle"})
            while outbuf and lane.proc is not None and lane.pump(outbuf):
                pass
        return results, reused  # type: ignore[return-value]


def _renamed(r: ProgramResult, program_id: str) -> ProgramResult:
    return ProgramResult(program_id, r.status, r.grids, r.wall_s, r.cpu_s, r.error, r.mode)


def run_programs(jobs: Sequence[ProgramJob], config: SandboxConfig | None = None,
                 accept: Callable[[ProgramJob, ProgramResult], bool] | None = None) -> list[ProgramResult]:
    """Start a sandbox, run `jobs`, stop it. Prefer a long-lived `Sandbox` for many calls."""
    with Sandbox(config) as sandbox:
        return sandbox.run(jobs, accept)
