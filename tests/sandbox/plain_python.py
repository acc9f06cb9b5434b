"""Reference runner: run `transform(grid)` programs under plain CPython, unconfined.

Used by test_compat.py to prove that the sandbox gives exactly what plain Python gives. Reads
JSON from stdin: {"prelude": path or null, "timeout_s": float, "preimport": [module, ...] (optional),
"jobs": [{"source", "grids", "seed"}]}; writes one JSON list to stdout with, per job, one entry per grid:
["ok", rows] | ["error", exception class] | ["invalid"] | ["timeout"] | ["crash"].

Each program runs in its own forked child of this process (so one cannot disturb the next),
imports lazily from disk as plain Python does (nothing is pre-imported but numpy and the
sandbox's own output check), sees the prelude as the module `common` through `sys.path`, and is
seeded exactly as the sandbox seeds it. `preimport` names heavy packages (scipy) the parent imports
once before forking, so that each child does not import them again from disk: when a module is
imported changes no program's result, only how long the reference run takes. Outputs are judged by the sandbox's own acceptance rule
(`encode_output`), so only the execution environment differs.
"""
from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import sys
import tempfile
import time
import types

_SANDBOX_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "sandbox")
sys.path.insert(0, _SANDBOX_DIR)  # only for the next import: programs must not see sandbox/ modules
import numpy as np  # noqa: E402

from inside.program import BadOutput, encode_output  # noqa: E402

sys.path.remove(_SANDBOX_DIR)


def _grid_entry(out: object) -> list:
    try:
        record = encode_output(out)
    except BadOutput:
        return ["invalid"]
    h, w = record[1], record[2]
    cells = record[3:]
    return ["ok", [list(cells[r * w:(r + 1) * w]) for r in range(h)]]


def _run(job: dict) -> list:
    n = len(job["grids"])
    try:
        code = compile(job["source"], "<program>", "exec")
        module = types.ModuleType("__program__")  # as the sandbox does: a real module
        sys.modules["__program__"] = module
        namespace = module.__dict__
        exec(code, namespace)  # noqa: S102 - the reference run of a test corpus program
    except BaseException as e:  # noqa: BLE001 - recorded as data, as the sandbox does
        return [["error", type(e).__name__]] * n
    fn = namespace.get("transform")
    if not callable(fn):
        return [["error", "MissingTransform"]] * n
    random.seed(job["seed"])
    np.random.seed(job["seed"] % 2**32)
    entries = []
    for g in job["grids"]:
        try:
            out = fn(np.array(g, dtype=np.int64))
        except BaseException as e:  # noqa: BLE001 - recorded as data
            entries.append(["error", type(e).__name__])
            continue
        entries.append(_grid_entry(out))
    return entries


def _in_child(job: dict, timeout_s: float) -> list:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 1
        try:
            data = json.dumps(_run(job)).encode()
            with os.fdopen(w, "wb") as f:
                f.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    buf, deadline = b"", time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([r], [], [], left)[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return [["timeout"]] * len(job["grids"])
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        buf += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0 or not buf:
        return [["crash"]] * len(job["grids"])
    return json.loads(buf)


def main() -> None:
    request = json.load(sys.stdin)
    for name in request.get("preimport", ()):
        __import__(name)
    workdir = tempfile.mkdtemp(prefix="arc-plain-")
    try:
        if request.get("prelude"):
            shutil.copyfile(request["prelude"], os.path.join(workdir, "common.py"))
            sys.path.insert(0, workdir)
        results = [_in_child(job, float(request.get("timeout_s", 10.0))) for job in request["jobs"]]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
