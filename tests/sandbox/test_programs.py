"""Well-behaved programs: correct outputs, typed failures with class and message, seeding,
the prelude, imports, job order and dedupe."""
from __future__ import annotations

import shutil

import pytest

from _sandbox_support import GRID, make_config, job  # type: ignore[import-not-found]
from arc_core.grid import Grid
from sandbox import ExecStatus as S
from sandbox import ProgramJob, Sandbox, SandboxConfig, run_programs

BFS = '''
from collections import deque
import numpy as np

def transform(grid):
    """Recolour each 4-connected component of non-zero cells by its size (capped at 9)."""
    h, w = grid.shape
    out = np.zeros_like(grid)
    seen = np.zeros((h, w), dtype=bool)
    for r in range(h):
        for c in range(w):
            if grid[r, c] and not seen[r, c]:
                comp, q = [], deque([(r, c)])
                seen[r, c] = True
                while q:
                    y, x = q.popleft()
                    comp.append((y, x))
                    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                        ny, nx = y + dy, x + dx
                        if 0 <= ny < h and 0 <= nx < w and grid[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            q.append((ny, nx))
                for y, x in comp:
                    out[y, x] = min(len(comp), 9)
    return out
'''


def test_correct_programs_give_correct_outputs(sandbox):
    g = Grid.parse([[1, 1, 0], [0, 0, 2], [3, 0, 2]])
    res = sandbox.run([
        job("import numpy as np\ndef transform(g):\n    return np.rot90(g)\n", (g,), "rot"),
        job(BFS, (g, GRID), "bfs"),
        job("def transform(g):\n    return [[int(v) for v in row] for row in g.T]\n", (g,), "lists"),
        job("import numpy as np\ndef transform(g):\n    return tuple(tuple(np.int8(v) for v in r) for r in g)\n",
            (g,), "numpy-scalars"),
        job("import numpy as np\ndef transform(g):\n    return [row for row in g.astype(np.uint8)]\n", (g,), "array-rows"),
        job("import numpy as np\ndef transform(g):\n    np.testing.assert_array_equal(g, g.copy())\n"
            "    np.testing.assert_allclose(g, g)\n    return g\n", (g,), "numpy-testing"),
    ])
    assert [r.program_id for r in res] == ["rot", "bfs", "lists", "numpy-scalars", "array-rows", "numpy-testing"]
    assert all(r.ok and r.mode == "fork" for r in res), [r.error for r in res]
    assert res[0].grids[0].output == Grid.from_array(__import__("numpy").rot90(g.to_array()))
    assert res[1].grids[0].output.to_list() == [[2, 2, 0], [0, 0, 2], [1, 0, 2]]
    assert res[1].grids[1].output.to_list() == [[6, 6, 6], [6, 6, 6]]
    assert res[2].grids[0].output.to_list() == [[1, 0, 3], [1, 0, 0], [0, 2, 2]]
    assert res[3].grids[0].output == g and res[4].grids[0].output == g and res[5].grids[0].output == g
    assert all(r.wall_s > 0 and r.cpu_s >= 0 for r in res)


@pytest.mark.parametrize("source, status, error_type, message", [
    ("def transform(g):\n    return 1 / 0\n", S.EXCEPTION, "ZeroDivisionError", "division by zero"),
    ("def transform(g):\n    raise ValueError('bad colour 11')\n", S.EXCEPTION, "ValueError", "bad colour 11"),
    ("def transform(g):\n    return undefined_name\n", S.EXCEPTION, "NameError", "undefined_name"),
    ("def transform(g)\n    return g\n", S.SYNTAX_ERROR, "SyntaxError", "line 1"),
    ("def transform(g):\nreturn g\n", S.SYNTAX_ERROR, "IndentationError", "line 2"),
    ("x = 1\n", S.EXCEPTION, "MissingTransform", "transform"),
    ("raise RuntimeError('at import')\ndef transform(g):\n    return g\n", S.EXCEPTION, "RuntimeError",
     "at module level: at import"),
    ("import tkinter\ndef transform(g):\n    return g\n", S.EXCEPTION, "ModuleNotFoundError",
     "not available in the sandbox"),
    ("def transform(g):\n    import ftplib\n    return g\n", S.EXCEPTION, "ModuleNotFoundError",
     "'ftplib' is not available"),
    ("def transform(g):\n    raise MemoryError('big')\n", S.MEMORY, "MemoryError", "big"),
    ("import threading\ndef transform(g):\n    threading.Thread(target=print).start()\n    return g\n", S.EXCEPTION,
     "RuntimeError", "threads are not allowed in the arc-hybrid sandbox"),
    ("def transform(g):\n    raise ValueError('\\u00e9\\x00' + 'x' * 5000)\n", S.EXCEPTION, "ValueError", "\\xe9"),
])
def test_failures_carry_class_and_message(sandbox, source, status, error_type, message):
    (res,) = sandbox.run([job(source, (GRID, GRID))])
    assert res.status is status
    assert len(res.grids) == 2 and all(g.status is status for g in res.grids)
    assert res.grids[0].error_type == error_type
    assert message in res.grids[0].error and message in res.error
    assert len(res.grids[0].error) <= 640


@pytest.mark.parametrize("ret, reason", [
    ("None", "got NoneType"), ("'0'", "got str"), ("{0: [0]}", "got dict"), ("[]", "0 rows"),
    ("[[]]", "0 cells"), ("[[1, 2], [3]]", "ragged"), ("[[1.0]]", "float"), ("[[-1]]", "-1"),
    ("[[10]]", "10"), ("[[True]]", "bool"), ("[[0]] * 31", "31 rows"), ("np.zeros((2, 2, 2), int)", "3 dimensions"),
    ("np.zeros((2, 2))", "float64"), ("np.zeros((2, 2), bool)", "bool"), ("np.zeros((31, 1), int)", "31x1"),
    ("np.array([[object()]])", "object"), ("[[0]] * 10**7", "rows"), ("np.zeros((5000, 5000), np.int8)", "5000x5000"),
    ("type('L', (list,), {})([[0]])", "got L"), ("np.zeros((1, 1), int).view(type('A', (np.ndarray,), {}))", "got A"),
])
def test_invalid_outputs_are_rejected_with_reason(sandbox, ret, reason):
    (res,) = sandbox.run([job(f"import numpy as np\ndef transform(g):\n    return {ret}\n")])
    assert res.status is S.INVALID_OUTPUT, res
    assert reason in res.grids[0].error and res.grids[0].output is None


def test_forged_eq_and_reduce_objects_are_rejected(sandbox, tmp_path):
    marker = tmp_path / "reduced"
    src = (f"import os\nclass Evil(list):\n    def __eq__(self, other):\n        return True\n"
           f"    def __reduce__(self):\n        return (os.system, ('touch {marker}',))\n"
           f"def transform(g):\n    return Evil([[1]])\n")
    (res,) = sandbox.run([job(src)])
    assert res.status is S.INVALID_OUTPUT and not marker.exists()


def test_monkeypatched_builtins_and_numpy_cannot_fake_output(sandbox):
    src = ("import builtins, numpy as np\nclass Fake:\n    pass\n"
           "def transform(g):\n    builtins.isinstance = lambda *a: True\n    builtins.len = lambda x: 1\n"
           "    builtins.type = lambda x: list\n    np.asarray = lambda x, *a, **k: np.zeros((1, 1), int)\n"
           "    np.array_equal = lambda *a: True\n    return Fake()\n")
    (res,) = sandbox.run([job(src)])
    assert res.status is S.INVALID_OUTPUT and "Fake" in res.grids[0].error


def test_poisoning_does_not_reach_the_next_program(sandbox):
    poison = ("import builtins, sys, numpy as np\nfrom collections import Counter\n"
              "def transform(g):\n    np.flipud = lambda a: np.zeros((1, 1), int)\n"
              "    Counter.most_common.__code__ = (lambda self, n=None: [(0, 99)]).__code__\n"
              "    builtins.len = lambda x: 0\n    sys.modules['numpy'] = None\n    return [[0]]\n")
    victim = ("import numpy as np\nfrom collections import Counter\ndef transform(g):\n"
              "    top = Counter(g.ravel().tolist()).most_common(1)[0][0]\n"
              "    return np.flipud(g) * 0 + top * (len(g) > 0)\n")
    res = sandbox.run([job(poison, pid="poison"), job(victim, pid="victim")] * 1)
    assert res[0].ok and res[1].ok
    assert res[1].grids[0].output.to_list() == [[1, 1, 1], [1, 1, 1]]


def test_seeding_is_reproducible_across_sandboxes():
    src = ("import random, numpy as np\ndef transform(g):\n"
           "    return [[random.randrange(10), int(np.random.randint(10)), random.randrange(10)]]\n")
    jobs = [job(src, (GRID, GRID, GRID))]
    a = run_programs(jobs, make_config(seed=1, bwrap="off"))[0]
    b = run_programs(jobs, make_config(seed=1, bwrap="off"))[0]
    c = run_programs(jobs, make_config(seed=2, bwrap="off"))[0]
    assert a.ok and a.outputs == b.outputs
    assert a.outputs[0] != a.outputs[1]  # one seeded stream per program, consumed grid by grid
    assert c.outputs != a.outputs


def test_prelude_is_importable_as_common(tmp_path):
    prelude = tmp_path / "prelude.py"
    prelude.write_text("import numpy as np\ndef recolor(g, a, b):\n    g = np.array(g)\n    g[g == a] = b\n"
                       "    return g\nSTAMP = 7\n")
    src = "from common import recolor, STAMP\ndef transform(g):\n    return recolor(g, 1, STAMP)\n"
    (res,) = run_programs([job(src)], make_config(prelude_path=str(prelude), bwrap="off"))
    assert res.ok and res.grids[0].output.to_list() == [[7, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize("bwrap", ["on", "off"])
def test_prelude_may_import_sibling_helper_modules(tmp_path, bwrap):
    # A helper library over several files (like arc-dsl's dsl.py + constants.py): the prelude
    # imports its siblings, and programs may import them by name, as in plain Python.
    if bwrap == "on" and shutil.which("bwrap") is None:
        pytest.skip("bubblewrap not installed")
    (tmp_path / "palette.py").write_text("RED = 2\n")
    (tmp_path / "dsl.py").write_text("from palette import RED\ndef paint(g):\n    return [[RED for _ in r] for r in g]\n")
    prelude = tmp_path / "common.py"
    prelude.write_text("from dsl import *\nfrom palette import *\n")
    src = "from common import paint\nimport palette\ndef transform(g):\n    return paint(g) + [[palette.RED]*3]\n"
    (res,) = run_programs([job(src)], make_config(prelude_path=str(prelude), bwrap=bwrap))
    assert res.ok and res.grids[0].output.to_list() == [[2, 2, 2], [2, 2, 2], [2, 2, 2]], res


def test_duplicate_jobs_run_once_and_keep_their_ids(sandbox):
    src = "import random\ndef transform(g):\n    return [[random.randrange(10)]]\n"
    res = sandbox.run([job(src, pid="a"), job(src, pid="b"), job("def transform(g):\n    return g\n", pid="c")])
    assert [r.program_id for r in res] == ["a", "b", "c"]
    assert res[0].outputs == res[1].outputs and res[0].wall_s == res[1].wall_s


def test_zero_inputs_and_many_programs(sandbox):
    (empty,) = sandbox.run([ProgramJob("e", "def transform(g):\n    return g\n", ())])
    assert empty.ok and empty.grids == ()
    many = sandbox.run([job(f"def transform(g):\n    return [[{i % 10}]]\n", pid=str(i)) for i in range(60)])
    assert [r.grids[0].output.to_list() for r in many] == [[[i % 10]] for i in range(60)]


@pytest.mark.parametrize("kwargs, message", [
    (dict(timeout_s=0), "timeout_s"), (dict(memory_mb=1), "memory_mb"), (dict(bwrap="yes"), "bwrap"),
    (dict(mode="pool"), "mode"), (dict(prelude_path="/no/such/file.py"), "prelude_path"),
    (dict(modules=("os; rm",)), "modules"), (dict(concurrency=-1), "concurrency"),
])
def test_config_rejects_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_config(**kwargs)


def test_job_rejects_bad_inputs():
    with pytest.raises(ValueError, match="tuple of arc_core.grid.Grid"):
        ProgramJob("x", "def transform(g): return g", ([[1]],))
    with pytest.raises(ValueError, match="ProgramJob"):
        Sandbox(make_config(bwrap="off")).run(["not a job"])


def test_config_builds_from_a_mapping():
    from arc_core.config import build

    cfg = build(SandboxConfig, {"timeout_s": 1.5, "modules": ["numpy", "re"], "bwrap": "off"})
    assert cfg.timeout_s == 1.5 and cfg.modules == ("numpy", "re") and cfg.workers >= 1
