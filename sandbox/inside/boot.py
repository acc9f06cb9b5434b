"""The zygote's start: the entry point the orchestrator execs (sandbox/bwrap.py `zygote_command`).

`python -s -P -c "...; boot.main(rfd, wfd, parent)"`, with /dev/null as stdin and stdout and the
protocol on two private pipe fds, so nothing that prints (numpy at import, the prelude) can touch
it. In order: tie this process's life to its parent (PDEATHSIG, before anything slow); read `init`;
build the `Zygote` (pre-imports the allowed modules, prepares every confinement step); confine
itself for good (sandbox/inside/jail.py); send PRELUDE and load the prelude from the sources in
`init`; refuse to go on if the prelude left a process behind; freeze the GC; send HELLO; loop.
Any failure is one FATAL frame naming the stage, then `_exit` (nothing the prelude registered runs).
"""
from __future__ import annotations

import gc
import json
import os
import traceback

from . import jail, prelude, wire
from .zygote import Zygote, read_exact, write_all

_FATAL_EXIT = 3


def _has_children() -> bool:
    """Whether this process has any child, running or exited (the zygote is a subreaper, so a
    process the prelude started and orphaned counts too)."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return False
    return True


def main(rfd: int, wfd: int, parent: int = 0) -> None:
    """Run the zygote on protocol fds `rfd`/`wfd`; `parent` is the orchestrator's pid (0: any)."""
    parent = parent or os.getppid()
    jail.die_with_parent(parent)  # before anything slow: a zygote never outlives its orchestrator
    head = read_exact(rfd, 4)
    if head is None:
        return
    init = json.loads(read_exact(rfd, int.from_bytes(head, "big")))
    stage = "starting"
    try:
        z = Zygote(init, rfd, wfd)
        stage = "confining itself"
        z.jail = z.confinement.confine_zygote(init.get("empty_root", "auto"), parent)
        if z.prelude.modules:
            stage = "loading the prelude"
            z.send(wire.message_frame(b"P", b""))
            prelude.load(z.prelude, z.guard)
            if _has_children():
                raise RuntimeError("the prelude started a process (a prelude may not fork)")
    except BaseException as e:  # noqa: BLE001 - reported to the orchestrator as a FATAL frame, then exit
        text = f"{stage}: {type(e).__name__}: {e}\n{traceback.format_exc()[-20000:]}"
        write_all(wfd, wire.message_frame(b"F", text.encode(errors="replace")))
        os._exit(_FATAL_EXIT)  # not sys.exit: nothing the prelude registered (atexit) runs
    gc.collect()
    gc.freeze()  # children then share these pages instead of copying them on the first GC
    z.send(wire.message_frame(b"H", json.dumps(z.hello()).encode()))
    z.loop()
    os._exit(0)  # nothing the prelude registered (atexit, finalizers) may delay or change the exit
