"""The zygote: a lean, exec'd worker that forks one confined child per program.

Started by sandbox/inside/boot.py (which ties its life to its parent, reads `init`, builds this
object - pre-importing the allowed modules - confines it for good, sandbox/inside/jail.py, and
loads the prelude), it loops: keep up to `concurrency` children in flight, each with a wall
deadline enforced with SIGKILL through its pidfd (kill before reap, so a pid is never reused
under us), read each child's records with a byte cap and a strict incremental parse, and write
one RESULT frame per program. It never runs program code itself.
Fast mode keeps confined workers that run up to `fast_reuse` programs each (a pre-filter only;
see sandbox/__init__.py): a job reaches a worker through a non-blocking pipe write driven by the
same select loop (a worker that does not read it runs into the job's deadline), and a worker is
retired after any program that did not return a grid for every input.
"""
from __future__ import annotations

import base64
import json
import os
import selectors
import signal
import sys
import time

from . import fingerprint, harden, imports, prelude, program, wire

_SETUP_EXIT = 97


def read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Child:
    """One process in flight: a fork-mode child or a fast-mode worker."""

    __slots__ = ("pid", "pidfd", "rfd", "jobfd", "jobbuf", "writing", "buf", "pos", "armed", "job", "deadline",
                 "start", "records_start", "fast", "count", "progerr", "failed", "served")

    def __init__(self, pid: int, rfd: int, jobfd: int, fast: bool) -> None:
        self.pid, self.rfd, self.jobfd, self.fast = pid, rfd, jobfd, fast
        self.pidfd = os.pidfd_open(pid)
        self.jobbuf, self.writing = bytearray(), False
        self.buf, self.pos, self.armed = bytearray(), 0, False
        self.job, self.deadline, self.start, self.records_start, self.count = None, 0.0, 0.0, 0, 0
        self.progerr = self.failed = False
        self.served = 0  # programs this process finished before the current one


class Zygote:
    def __init__(self, init: dict, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.concurrency = int(init["concurrency"])
        self.timeout_s = float(init["timeout_s"])
        self.fast_reuse = int(init["fast_reuse"])
        self.cpu_s = int(init["cpu_s"])
        self.module_names = list(init["modules"])
        self.import_failures = imports.preimport(self.module_names)
        program.refuse_threads()
        self.confinement = harden.Confinement(
            base64.b64decode(init["seccomp_child"]), base64.b64decode(init["seccomp_zygote"]),
            int(init["memory_mb"]), self.cpu_s, bool(init["landlock"]),
            landlock_required=bool(init.get("landlock_required")))
        self.prelude = prelude.PreludeFinder(init.get("prelude") or [])
        self.modules = sorted({n.split(".")[0] for n in init["modules"]} | set(self.prelude.names))
        self.guard = program.ImportGuard(self.modules)
        self.jail: dict = {}
        self.sel = selectors.DefaultSelector()
        self.queue: list[dict] = []
        self.busy: dict[int, _Child] = {}  # pid -> child/worker running a program
        self.idle: list[_Child] = []  # fast-mode workers waiting for a program
        self.inbuf = bytearray()
        self.eof = False

    def send(self, data: bytes) -> None:
        write_all(self.wfd, data)

    def hello(self) -> dict:
        c = self.confinement
        return {"pid": os.getpid(), "uid": os.getuid(), "landlock_abi": c.landlock_abi, "landlock": c.landlock_reason,
                "empty_root": self.jail.get("empty_root"), "empty_root_active": bool(self.jail.get("empty_root_active")),
                "memory_limit": c.memory_limit, "modules": self.modules, "preimported": len(sys.modules),
                "prelude_modules": sorted(self.prelude.modules), "import_failures": self.import_failures[:50],
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
                self.send(wire.result_frame(job["seq"], wire.OUTCOME_SPAWN_FAILED, e.errno or 0, 0, 0, b""))
            return None
        if pid == 0:  # ---- child: never returns
            code = _SETUP_EXIT
            try:
                keep = (w, jr) if fast else (w,)
                cpu = self.cpu_s * self.fast_reuse if fast else self.cpu_s
                self.confinement.apply(keep, cpu)
                sys.meta_path[:] = [self.prelude, self.guard]
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
            os.set_blocking(jw, False)
        os.set_blocking(r, False)
        child = _Child(pid, r, jw, fast)
        self.sel.register(r, selectors.EVENT_READ, ("out", child))
        self.sel.register(child.pidfd, selectors.EVENT_READ, ("exit", child))
        return child

    def _worker_loop(self, jr: int, w: int) -> None:
        watch = fingerprint.Watch(self.module_names, list(self.prelude.modules))
        for n in range(self.fast_reuse):
            head = read_exact(jr, 4)
            if head is None:
                return
            job = json.loads(read_exact(jr, int.from_bytes(head, "big")))
            t0 = program.cpu_us()
            program.run(w, job["source"], job["grids"], job["seed"])
            sys.modules.pop("__program__", None)  # the next program gets its own
            retire = n + 1 >= self.fast_reuse or not watch.unchanged()
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
                self.send(wire.result_frame(job["seq"], wire.OUTCOME_SPAWN_FAILED, 0, 0, 0, b""))
                return
            child.jobbuf += len(body).to_bytes(4, "big") + body
            self._flush_job(child)  # what does not fit waits for the pipe to drain (select loop)
        else:
            child = self._fork(job, fast=False)
            if child is None:
                return
        child.job, child.start, child.deadline = job, now, now + self.timeout_s
        child.records_start = child.pos
        child.count = 0
        child.progerr = child.failed = False
        self.busy[child.pid] = child

    def _flush_job(self, child: _Child) -> None:
        """Write what the worker's job pipe takes now; never blocks (the worker may not read)."""
        try:
            n = os.write(child.jobfd, child.jobbuf) if child.jobbuf else 0
        except BlockingIOError:
            n = 0
        except OSError:  # the worker is gone: its exit (pidfd) ends the job
            n = len(child.jobbuf)
        del child.jobbuf[:n]
        if bool(child.jobbuf) != child.writing:
            child.writing = bool(child.jobbuf)
            if child.writing:
                self.sel.register(child.jobfd, selectors.EVENT_WRITE, ("job", child))
            else:
                self.sel.unregister(child.jobfd)

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
                child.failed |= rec[0] != wire.GRID
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
            self._fast_done(child, end)

    def _fast_done(self, child: _Child, end: int) -> None:
        cpu = -1 - end if end < 0 else end
        job, payload = child.job, self._payload(child, child.pos - wire.END_SIZE)
        wall = time.monotonic() - child.start
        self.send(wire.result_frame(job["seq"], wire.OUTCOME_EXITED, 0, wall * 1e6, cpu, payload, child.served))
        del self.busy[child.pid]
        child.job = None
        child.served += 1
        del child.buf[:child.pos]
        child.pos = child.records_start = child.count = 0
        # A program that raised (or returned no grid) may have left the process in a state that
        # fails the next one: retire the worker rather than let it run another program.
        if end < 0 or child.failed or child.progerr or child.served >= self.fast_reuse:
            self._reap(child, kill=True)
        else:
            child.progerr = child.failed = False
            self.idle.append(child)

    def _reap(self, child: _Child, kill: bool) -> tuple[int, object]:
        if kill:  # before waitpid: the pid cannot be reused yet
            try:
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass  # already exited (a zombie until the wait below)
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
            if child.writing:
                self.sel.unregister(child.jobfd)
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
        self.send(wire.result_frame(job["seq"], outcome, detail, wall * 1e6, cpu, payload, child.served))

    # ---- main loop ------------------------------------------------------------------------
    def _on_input(self) -> None:
        data = os.read(self.rfd, 1 << 20)
        if not data:
            self.eof = True
            self.sel.unregister(self.rfd)
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
        self.sel.register(self.rfd, selectors.EVENT_READ, ("input", None))
        while not (self.eof and not self.queue and not self.busy):
            while self.queue and len(self.busy) < self.concurrency:
                self._start(self.queue.pop(0))
            now = time.monotonic()
            timeout = min((c.deadline for c in self.busy.values()), default=now + 60) - now
            for key, _ in self.sel.select(max(timeout, 0)):
                kind, child = key.data  # events of a child finished earlier in this batch are stale
                if kind == "input":
                    self._on_input()
                elif kind == "out" and child.rfd == key.fd:
                    self._on_output(child)
                elif kind == "exit" and child.pidfd == key.fd:
                    self._on_exit(child)
                elif kind == "job" and child.jobfd == key.fd and child.writing:
                    self._flush_job(child)
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
