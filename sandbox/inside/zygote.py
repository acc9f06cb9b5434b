"""The zygote: a lean, exec'd worker that forks one confined child per program.

Started by the orchestrator with a clean environment (inside bubblewrap when available) as
`python -I -c "...; zygote.main()"`. It reads length-prefixed JSON messages on stdin (first
`init`, then `job`s), pre-imports the allowed modules and the prelude (as `common`), freezes the
GC, and then loops: keep up to `concurrency` children in flight, each with a wall deadline
enforced with SIGKILL (kill before reap, so a pid is never reused under us), read each child's
records with a byte cap and a strict incremental parse, and write one RESULT frame per program
on stdout. It never runs untrusted code itself. Fast mode keeps confined workers that run up to
`fast_reuse` programs each (a pre-filter only; see sandbox/__init__.py).
"""
from __future__ import annotations

import base64
import gc
import json
import os
import selectors
import signal
import sys
import time
import traceback

from . import harden, imports, program, wire

_SETUP_EXIT = 97


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _send(data: bytes) -> None:
    _write_all(1, data)


class _Child:
    """One process in flight: a fork-mode child or a fast-mode worker."""

    __slots__ = ("pid", "pidfd", "rfd", "jobfd", "buf", "pos", "armed", "job", "deadline", "start",
                 "records_start", "fast", "count", "progerr")

    def __init__(self, pid: int, rfd: int, jobfd: int, fast: bool) -> None:
        self.pid, self.rfd, self.jobfd, self.fast = pid, rfd, jobfd, fast
        self.pidfd = os.pidfd_open(pid)
        self.buf, self.pos, self.armed = bytearray(), 0, False
        self.job, self.deadline, self.start, self.records_start, self.count = None, 0.0, 0.0, 0, 0
        self.progerr = False


class Zygote:
    def __init__(self, init: dict) -> None:
        self.concurrency = int(init["concurrency"])
        self.timeout_s = float(init["timeout_s"])
        self.fast_reuse = int(init["fast_reuse"])
        self.cpu_s = int(init["cpu_s"])
        self.modules, self.import_failures = imports.preimport(init["modules"], init.get("prelude_path"))
        self.confinement = harden.Confinement(
            base64.b64decode(init["seccomp_bpf"]), int(init["memory_mb"]), self.cpu_s,
            init["landlock_paths"], drop_uid=os.getuid() == 0,
            landlock_required=bool(init.get("landlock_required")))
        self.guard = program.ImportGuard(self.modules)
        self.sel = selectors.DefaultSelector()
        self.queue: list[dict] = []
        self.busy: dict[int, _Child] = {}  # pid -> child/worker running a program
        self.idle: list[_Child] = []  # fast-mode workers waiting for a program
        self.inbuf = bytearray()
        self.eof = False

    def hello(self) -> dict:
        c = self.confinement
        return {"pid": os.getpid(), "uid": os.getuid(), "drop_uid": c.drop_uid,
                "landlock_abi": c.landlock_abi, "landlock": c.landlock_reason,
                "memory_limit": c.memory_limit, "modules": self.modules,
                "preimported": len(sys.modules), "import_failures": self.import_failures[:50],
                "python": sys.version.split()[0]}

    # ---- spawning -------------------------------------------------------------------------
    def _fork(self, job: dict | None, fast: bool) -> _Child | None:
        r, w = os.pipe()
        jr, jw = os.pipe() if fast else (-1, -1)
        try:
            pid = os.fork()
        except OSError as e:
            for fd in (r, w, jr, jw):
                if fd >= 0:
                    os.close(fd)
            if job is not None:
                _send(wire.result_frame(job["seq"], wire.OUTCOME_SPAWN_FAILED, e.errno or 0, 0, 0, b""))
            return None
        if pid == 0:  # ---- child: never returns
            code = _SETUP_EXIT
            try:
                keep = (w, jr) if fast else (w,)
                cpu = self.cpu_s * self.fast_reuse if fast else self.cpu_s
                self.confinement.apply(keep, cpu)
                sys.meta_path[:] = [self.guard]
                sys.path[:] = []  # nothing to search: a restored PathFinder finds no directory
                program.emit(w, bytes([wire.ARMED]))
                code = 0
                if fast:
                    self._worker_loop(jr, w)
                else:
                    program.run(w, job["source"], job["grids"], job["seed"])
            finally:
                os._exit(code)
        os.close(w)
        if fast:
            os.close(jr)
        os.set_blocking(r, False)
        child = _Child(pid, r, jw, fast)
        self.sel.register(r, selectors.EVENT_READ, ("out", child))
        self.sel.register(child.pidfd, selectors.EVENT_READ, ("exit", child))
        return child

    def _worker_loop(self, jr: int, w: int) -> None:
        before = program.fingerprint()
        for n in range(self.fast_reuse):
            head = _read_exact(jr, 4)
            if head is None:
                return
            job = json.loads(_read_exact(jr, int.from_bytes(head, "big")))
            t0 = program.cpu_us()
            program.run(w, job["source"], job["grids"], job["seed"])
            retire = n + 1 >= self.fast_reuse or program.fingerprint() != before
            program.emit(w, wire.end_record(program.cpu_us() - t0, retire, job["nonce"]))
            if retire:
                return

    def _start(self, job: dict) -> None:
        now = time.monotonic()
        if job.get("mode") == "fast":
            job["nonce"] = int.from_bytes(os.urandom(4), "big")  # END must echo it (see _parse)
            body = json.dumps(job).encode()
            child = self.idle.pop() if self.idle else self._fork(None, fast=True)
            if child is None:
                _send(wire.result_frame(job["seq"], wire.OUTCOME_SPAWN_FAILED, 0, 0, 0, b""))
                return
            try:  # the worker waits in read(); a frame bigger than the pipe just blocks briefly
                _write_all(child.jobfd, len(body).to_bytes(4, "big") + body)
            except OSError as e:  # the worker died while idle: report, and drop it
                self._reap(child, kill=True)
                _send(wire.result_frame(job["seq"], wire.OUTCOME_SPAWN_FAILED, e.errno or 0, 0, 0, b""))
                return
        else:
            child = self._fork(job, fast=False)
            if child is None:
                return
        child.job, child.start, child.deadline = job, now, now + self.timeout_s
        child.records_start = child.pos
        child.count = 0
        child.progerr = False
        self.busy[child.pid] = child

    # ---- results --------------------------------------------------------------------------
    def _parse(self, child: _Child) -> int | None:
        """Advance the strict parse; returns END's cpu_us when a fast program finished."""
        while True:
            got = wire.next_record(child.buf, child.pos, build=False)
            if got is None:
                return None
            rec, child.pos = got
            if rec[0] == wire.ARMED:
                if child.armed:
                    raise wire.WireError("second ARMED record")
                child.armed = True
                child.records_start = child.pos
            elif not child.armed:
                raise wire.WireError("record before ARMED")
            elif rec[0] == wire.END:
                if not child.fast or child.job is None:
                    raise wire.WireError("END record outside fast mode")
                if rec[3] != child.job["nonce"]:
                    raise wire.WireError("END record for another job (wrong nonce)")
                return rec[1] if not rec[2] else -1 - rec[1]
            else:  # the same structural rules as wire.parse_program, checked incrementally
                child.count += 1
                n_grids = len(child.job["grids"]) if child.job is not None else 0
                if child.progerr or (rec[0] == wire.PROGERR and child.count > 1):
                    raise wire.WireError("a program error must be the only record")
                child.progerr = rec[0] == wire.PROGERR
                if child.count > n_grids and not child.progerr:
                    raise wire.WireError(f"more than {n_grids} result records")

    def _payload(self, child: _Child, stop: int | None = None) -> bytes:
        body = bytes(child.buf[child.records_start:child.pos if stop is None else stop])
        return (bytes([wire.ARMED]) + body) if child.armed else b""

    def _on_output(self, child: _Child) -> None:
        try:
            data = os.read(child.rfd, 65536)
        except BlockingIOError:
            return
        if not data:
            self.sel.unregister(child.rfd)
            os.close(child.rfd)
            child.rfd = -1
            return
        child.buf += data
        n_grids = len(child.job["grids"]) if child.job else 0
        try:
            end = self._parse(child)
            if len(child.buf) - child.records_start > wire.payload_cap(n_grids) + wire.END_SIZE:
                raise wire.WireError("too many bytes")
            if end is not None and child.pos != len(child.buf):  # a worker writes nothing after END
                raise wire.WireError("bytes after END")
        except wire.WireError:
            self._finish(child, wire.OUTCOME_PROTOCOL, 0, kill=True)
            return
        if end is not None and child.job is not None:  # a fast-mode program finished
            retire = end < 0
            cpu = -1 - end if retire else end
            job, payload = child.job, self._payload(child, child.pos - wire.END_SIZE)
            wall = time.monotonic() - child.start
            _send(wire.result_frame(job["seq"], wire.OUTCOME_EXITED, 0, wall * 1e6, cpu, payload))
            del self.busy[child.pid]
            child.job = None
            del child.buf[:child.pos]
            child.pos = child.records_start = child.count = 0
            child.progerr = False
            if retire:
                self._reap(child, kill=True)
            else:
                self.idle.append(child)

    def _reap(self, child: _Child, kill: bool) -> tuple[int, object]:
        if kill:
            os.kill(child.pid, signal.SIGKILL)  # before waitpid: the pid cannot be reused yet
        _, status, usage = os.wait4(child.pid, 0)
        self.sel.unregister(child.pidfd)
        os.close(child.pidfd)
        child.pidfd = -1
        if child.rfd >= 0:
            try:
                while True:  # drain what the child wrote before it died (bounded by the cap)
                    data = os.read(child.rfd, 65536)
                    if not data or len(child.buf) > 1 << 20:
                        break
                    child.buf += data
            except BlockingIOError:
                pass
            self.sel.unregister(child.rfd)
            os.close(child.rfd)
            child.rfd = -1
        if child.jobfd >= 0:
            os.close(child.jobfd)
            child.jobfd = -1
        if child in self.idle:
            self.idle.remove(child)
        return status, usage

    def _finish(self, child: _Child, outcome: int, detail: int, kill: bool) -> None:
        status, usage = self._reap(child, kill)
        if outcome == wire.OUTCOME_EXITED:
            if os.WIFSIGNALED(status):
                outcome, detail = wire.OUTCOME_SIGNALED, os.WTERMSIG(status)
            else:
                detail = os.WEXITSTATUS(status)
        job = child.job
        self.busy.pop(child.pid, None)
        if job is None:
            return
        payload = self._payload(child)
        if outcome != wire.OUTCOME_PROTOCOL:
            try:
                self._parse(child)
                if child.pos != len(child.buf):
                    raise wire.WireError("truncated record at exit")
                payload = self._payload(child)
            except wire.WireError:
                outcome, detail = wire.OUTCOME_PROTOCOL, 0
        if outcome == wire.OUTCOME_PROTOCOL:  # forged or corrupt bytes: keep nothing the child said
            payload = bytes([wire.ARMED]) if child.armed else b""
        wall = time.monotonic() - child.start
        cpu = (usage.ru_utime + usage.ru_stime) * 1e6
        _send(wire.result_frame(job["seq"], outcome, detail, wall * 1e6, cpu, payload))

    # ---- main loop ------------------------------------------------------------------------
    def _on_stdin(self) -> None:
        data = os.read(0, 1 << 20)
        if not data:
            self.eof = True
            self.sel.unregister(0)
            return
        self.inbuf += data
        while len(self.inbuf) >= 4:
            n = int.from_bytes(self.inbuf[:4], "big")
            if len(self.inbuf) < 4 + n:
                break
            msg = json.loads(self.inbuf[4:4 + n])
            del self.inbuf[:4 + n]
            if msg.get("op") == "retire_idle":  # end of a fast-mode pass: no worker outlives it
                for child in list(self.idle):
                    self._reap(child, kill=True)
                continue
            assert msg.get("op") == "job", f"unexpected message {msg.get('op')!r}"
            self.queue.append(msg)

    def loop(self) -> None:
        self.sel.register(0, selectors.EVENT_READ, ("stdin", None))
        while not (self.eof and not self.queue and not self.busy):
            while self.queue and len(self.busy) < self.concurrency:
                self._start(self.queue.pop(0))
            now = time.monotonic()
            timeout = min((c.deadline for c in self.busy.values()), default=now + 60) - now
            for key, _ in self.sel.select(max(timeout, 0)):
                kind, child = key.data  # events of a child finished earlier in this batch are stale
                if kind == "stdin":
                    self._on_stdin()
                elif kind == "out" and child.rfd == key.fd:
                    self._on_output(child)
                elif kind == "exit" and child.pidfd == key.fd:
                    self._on_exit(child)
            now = time.monotonic()
            for child in [c for c in self.busy.values() if c.deadline <= now]:
                self._finish(child, wire.OUTCOME_TIMEOUT, 0, kill=True)
        for child in list(self.idle):
            self._reap(child, kill=True)

    def _on_exit(self, child: _Child) -> None:
        if child.pid in self.busy and self.busy[child.pid] is child:
            self._finish(child, wire.OUTCOME_EXITED, 0, kill=False)
        elif child in self.idle:
            self._reap(child, kill=False)


def main() -> None:
    head = _read_exact(0, 4)
    if head is None:
        return
    init = json.loads(_read_exact(0, int.from_bytes(head, "big")))
    try:
        z = Zygote(init)
    except Exception as e:  # noqa: BLE001 - reported to the orchestrator as a FATAL frame, then exit
        _send(wire.message_frame(b"F", f"{type(e).__name__}: {e}\n{traceback.format_exc()}".encode()))
        sys.exit(3)
    gc.collect()
    gc.freeze()  # children then share these pages instead of copying them on the first GC
    _send(wire.message_frame(b"H", json.dumps(z.hello()).encode()))
    z.loop()
