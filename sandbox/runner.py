"""The orchestrator side: `Sandbox` starts the zygote (exec, clean env, bubblewrap when it works),
feeds it jobs just in time, reads RESULT frames with a watchdog, and replaces a zygote that dies
or stalls. It never forks workers from itself and never runs candidate code.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import selectors
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence

from . import bwrap, decode
from .config import SandboxConfig
from .inside import wire
from .results import ExecStatus, ProgramJob, ProgramResult
from .seccomp_policy import compile_bpf

log = logging.getLogger(__name__)
_MAX_ATTEMPTS = 2  # a program in flight when the zygote died twice is recorded as CRASH


class SandboxError(RuntimeError):
    """The sandbox itself could not start (a configuration or environment problem)."""


def program_seed(base: int, source: str) -> int:
    """Seed for one program: a function of the config seed and the source only (dedupe-safe)."""
    digest = hashlib.sha256(f"{base}\0{source}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big")


class Sandbox:
    """A running zygote. Use as a context manager; `run(jobs)` may be called many times.

    Not thread-safe: use one Sandbox per thread (each holds its own zygote).
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.read_paths = bwrap.python_paths() + ([os.path.realpath(self.config.prelude_path)]
                                                  if self.config.prelude_path else [])
        self.bwrap_active, self.bwrap_reason = self._decide_bwrap()
        self.hello: dict = {}
        self._proc: subprocess.Popen | None = None
        self._stderr = None
        self._inbuf = bytearray()
        self._seq = 0
        self._sel: selectors.BaseSelector | None = None
        self._writing = False
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

    # ---- lifecycle ------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """Host pid of the launched process (bwrap, or the zygote itself without bwrap)."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        if self._proc is not None:
            return
        cfg = self.config
        argv = bwrap.zygote_command()
        if self.bwrap_active:
            argv = bwrap.bwrap_prefix(self.read_paths) + argv
        if self._stderr is not None:  # from a zygote that was replaced
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                      env=dict(bwrap.CLEAN_ENV), close_fds=True, start_new_session=True, cwd="/")
        landlock_paths = None if cfg.landlock == "off" else []  # children read no file at all
        init = {"op": "init", "concurrency": cfg.workers, "timeout_s": cfg.timeout_s,
                "memory_mb": cfg.memory_mb, "cpu_s": cfg.cpu_limit_s, "fast_reuse": cfg.fast_reuse,
                "modules": list(cfg.modules), "prelude_path": cfg.prelude_path and os.path.realpath(cfg.prelude_path),
                "seccomp_bpf": base64.b64encode(compile_bpf()).decode(), "landlock_paths": landlock_paths,
                "landlock_required": cfg.landlock == "on"}
        try:
            self._write(self._frame(init))
            tag, body = self._read_message(timeout=60.0)
        except (OSError, SandboxError) as e:
            self._kill()
            raise SandboxError(f"sandbox zygote failed to start: {e}") from e
        if tag != b"H":
            self._kill()
            raise SandboxError(f"sandbox zygote failed to start: {body.decode(errors='replace')[:2000]}")
        self.hello = json.loads(body)
        if cfg.landlock == "on" and not self.hello.get("landlock_abi"):
            self._kill()
            raise SandboxError(f"landlock='on' but Landlock is unavailable: {self.hello.get('landlock')}")
        if cfg.landlock == "auto" and landlock_paths is not None and not self.hello.get("landlock_abi"):
            log.warning("sandbox: running without Landlock: %s", self.hello.get("landlock"))
        os.set_blocking(self._proc.stdin.fileno(), False)
        os.set_blocking(self._proc.stdout.fileno(), False)
        self._sel = selectors.DefaultSelector()
        self._sel.register(self._proc.stdout.fileno(), selectors.EVENT_READ)
        self._writing = False

    def close(self) -> None:
        proc, self._proc = self._proc, None
        self._close_selector()
        if proc is None:
            return
        try:
            proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self._kill(proc)
        finally:
            proc.stdout.close()
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None

    def _kill(self, proc: subprocess.Popen | None = None) -> None:
        proc = proc or self._proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the zygote's own session: bwrap and everything under it
        except ProcessLookupError:
            pass
        proc.wait()
        for f in (proc.stdin, proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        if proc is self._proc:
            self._proc = None
        self._inbuf.clear()
        self._close_selector()

    def _close_selector(self) -> None:
        if self._sel is not None:
            self._sel.close()
            self._sel = None

    def stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode(errors="replace")

    # ---- framing --------------------------------------------------------------------------
    @staticmethod
    def _frame(msg: dict) -> bytes:
        body = json.dumps(msg).encode()
        return len(body).to_bytes(4, "big") + body

    def _job_frame(self, job: ProgramJob, seq: int, mode: str, cache: dict[tuple, str]) -> bytes:
        grids = cache.get(job.inputs)
        if grids is None:
            grids = cache[job.inputs] = json.dumps([g.rows for g in job.inputs], separators=(",", ":"))
        body = (f'{{"op":"job","seq":{seq},"mode":"{mode}","seed":{program_seed(self.config.seed, job.source)},'
                f'"grids":{grids},"source":{json.dumps(job.source)}}}').encode()
        return len(body).to_bytes(4, "big") + body

    def _write(self, data: bytes) -> None:
        self._proc.stdin.write(data)
        self._proc.stdin.flush()

    def _read_message(self, timeout: float) -> tuple[bytes, bytes]:
        """Blocking read of one H/F message during startup."""
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while True:
            if len(self._inbuf) >= 5:
                n = int.from_bytes(self._inbuf[1:5], "big")
                if len(self._inbuf) >= 5 + n:
                    tag, body = bytes(self._inbuf[:1]), bytes(self._inbuf[5:5 + n])
                    del self._inbuf[:5 + n]
                    return tag, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise SandboxError(f"no answer within {timeout:.0f}s; stderr: {self.stderr_tail()}")
            sel = selectors.DefaultSelector()
            sel.register(fd, selectors.EVENT_READ)
            sel.select(left)
            sel.close()
            data = os.read(fd, 1 << 16)
            if not data:
                raise SandboxError(f"zygote exited during startup; stderr: {self.stderr_tail()}")
            self._inbuf += data

    def _frames(self):
        """Yield complete RESULT frames from the buffer; raise WireError on a malformed one."""
        while len(self._inbuf) >= 1 + wire.RESULT_HEADER.size:
            if self._inbuf[0:1] != b"R":
                raise wire.WireError(f"unexpected frame tag {bytes(self._inbuf[:1])!r}")
            seq, outcome, detail, wall, cpu, n = wire.RESULT_HEADER.unpack_from(self._inbuf, 1)
            if n > 1 << 20 or outcome > wire.OUTCOME_SPAWN_FAILED:
                raise wire.WireError(f"bad RESULT header (outcome {outcome}, {n} bytes)")
            end = 1 + wire.RESULT_HEADER.size + n
            if len(self._inbuf) < end:
                return
            payload = bytes(self._inbuf[end - n:end])
            del self._inbuf[:end]
            yield seq, outcome, detail, wall, cpu, payload

    # ---- running --------------------------------------------------------------------------
    def run(self, jobs: Sequence[ProgramJob],
            accept: Callable[[ProgramJob, ProgramResult], bool] | None = None) -> list[ProgramResult]:
        """Run every job; results come back in job order, one GridResult per input grid.

        Identical (source, inputs) jobs run once. In fast mode every job first runs in a reused
        worker; results that `accept(job, result)` (default: all grids OK) are re-run in fork
        mode and replaced, so a fast-mode result is only ever kept when it was rejected.
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
        if self.config.mode == "fork":
            results = self._execute(unique, "fork")
        else:
            results = self._execute(unique, "fast")
            accept = accept or (lambda job, result: result.ok)
            redo = [i for i, (j, r) in enumerate(zip(unique, results)) if accept(j, r)]
            for i, r in zip(redo, self._execute([unique[i] for i in redo], "fork")):
                results[i] = r
        out = []
        for j, i in zip(jobs, index):
            r = results[i]
            out.append(r if r.program_id == j.program_id else _renamed(r, j.program_id))
        return out

    def _execute(self, jobs: list[ProgramJob], mode: str) -> list[ProgramResult]:
        results: list[ProgramResult | None] = [None] * len(jobs)
        pending = deque(range(len(jobs)))
        inflight: dict[int, int] = {}  # seq -> job index
        attempts = [0] * len(jobs)
        window = 2 * self.config.workers + 2  # just in time: the zygote never holds the whole queue
        outbuf = bytearray()
        grids_json: dict[tuple, str] = {}  # programs of one task share their inputs: encode once
        last_progress = time.monotonic()
        while pending or inflight:
            if self._proc is None:
                self.start()
                last_progress = time.monotonic()
            while pending and len(inflight) < window:
                i = pending.popleft()
                self._seq += 1
                inflight[self._seq] = i
                attempts[i] += 1
                outbuf += self._job_frame(jobs[i], self._seq, mode, grids_json)
            try:
                alive = self._pump(outbuf)
                for seq, outcome, detail, wall, cpu, payload in self._frames():
                    i = inflight.pop(seq, None)
                    if i is None:
                        raise wire.WireError(f"result for unknown sequence number {seq}")
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
                log.warning("sandbox: replacing the zygote: %s", why)
                self._kill()
                self.restarts += 1
                outbuf.clear()
                for i in sorted(inflight.values(), reverse=True):
                    if attempts[i] >= _MAX_ATTEMPTS:
                        results[i] = decode.failed(jobs[i], ExecStatus.CRASH,
                                                   f"the sandbox zygote failed while running this program: {why}", mode)
                    else:
                        pending.appendleft(i)
                inflight.clear()
        if mode == "fast" and self._proc is not None:  # a worker a program kept must not serve the next run
            outbuf += self._frame({"op": "retire_idle"})
            while outbuf and self._proc is not None and self._pump(outbuf):
                pass
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def _pump(self, outbuf: bytearray) -> bool:
        """Write what fits, wait up to 0.5 s for output, read it. False when the zygote is gone."""
        proc, sel = self._proc, self._sel
        out_fd, in_fd = proc.stdout.fileno(), proc.stdin.fileno()
        if bool(outbuf) != self._writing:
            self._writing = bool(outbuf)
            (sel.register(in_fd, selectors.EVENT_WRITE) if outbuf else sel.unregister(in_fd))
        for key, _ in sel.select(0.5):
            if key.fd == in_fd:
                try:
                    n = os.write(in_fd, outbuf[:1 << 16])
                except BlockingIOError:
                    n = 0
                del outbuf[:n]
            else:
                data = os.read(out_fd, 1 << 20)
                if not data:
                    return False
                self._inbuf += data
        return True


def _renamed(r: ProgramResult, program_id: str) -> ProgramResult:
    return ProgramResult(program_id, r.status, r.grids, r.wall_s, r.cpu_s, r.error, r.mode)


def run_programs(jobs: Sequence[ProgramJob], config: SandboxConfig | None = None,
                 accept: Callable[[ProgramJob, ProgramResult], bool] | None = None) -> list[ProgramResult]:
    """Start a sandbox, run `jobs`, stop it. Prefer a long-lived `Sandbox` for many calls."""
    with Sandbox(config) as sandbox:
        return sandbox.run(jobs, accept)
