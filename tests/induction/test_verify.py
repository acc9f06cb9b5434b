"""Verification in the real sandbox: statuses per pair, exact match, cell accuracy."""
from __future__ import annotations

import pytest

from induction.dedupe import ExtractedCode, dedupe
from induction.verify import cell_accuracy, verify_programs
from arc_core.grid import Grid
from sandbox import Sandbox, SandboxConfig

CORRECT = "import numpy as np\ndef transform(grid):\n    return np.flipud(grid)\n"
WRONG = "def transform(grid):\n    return grid\n"
RAISES = "def transform(grid):\n    return 1 / 0\n"
LOOPS = "def transform(grid):\n    while True:\n        pass\n"
SHAPE = "import numpy as np\ndef transform(grid):\n    return np.tile(grid, (2, 1))\n"
INVALID = "def transform(grid):\n    return 'not a grid'\n"
LISTS = "def transform(grid):\n    return [list(r) for r in grid[::-1]]\n"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(SandboxConfig(timeout_s=1.0)) as sb:
        yield sb


def _verify(task, sandbox, *sources):
    programs = dedupe([ExtractedCode(str(i), s) for i, s in enumerate(sources)])
    return {p.source: v for p, v in zip(programs, verify_programs(task, programs, sandbox))}


def test_statuses_in_one_batch(flip_task, sandbox):
    v = _verify(flip_task, sandbox, CORRECT, WRONG, RAISES, LOOPS, SHAPE, INVALID, LISTS)
    ok = v[CORRECT]
    assert ok.verified and ok.status == "ok"
    assert all(p.status == "ok" and p.exact and p.cell_accuracy == 1.0 for p in ok.train)
    assert [t.output for t in ok.test] == [Grid.from_array(g.to_array()[::-1]) for g in flip_task.test_inputs]
    assert v[LISTS].verified  # a list of lists is a valid answer too

    wrong = v[WRONG]
    assert not wrong.verified and all(p.status == "ok" for p in wrong.train)
    expected = [cell_accuracy(p.input, p.output) for p in flip_task.train]
    assert [p.cell_accuracy for p in wrong.train] == expected
    assert [p.output for p in wrong.train] == [p.input for p in flip_task.train]

    raises = v[RAISES]
    assert not raises.verified
    assert all(p.status == "exception" and p.error_type == "ZeroDivisionError" and p.output is None
               for p in raises.train)
    assert "division by zero" in raises.train[0].error

    loops = v[LOOPS]
    assert not loops.verified and loops.train[0].status == "timeout"
    assert all(p.status == "timeout" for p in loops.train) and all(t.status == "timeout" for t in loops.test)

    shape = v[SHAPE]
    assert all(p.status == "ok" and not p.exact and p.cell_accuracy is None for p in shape.train)
    assert v[INVALID].train[0].status == "invalid_output" and v[INVALID].train[0].output is None


def test_sandbox_never_sees_expected_outputs(flip_task):
    """The job carries the source, demo inputs then test inputs, and nothing else."""
    import dataclasses

    from induction.verify import make_job
    from sandbox import ProgramJob

    job = make_job(flip_task, "p", CORRECT)
    assert {f.name for f in dataclasses.fields(ProgramJob)} == {"program_id", "source", "inputs"}
    assert job.inputs == tuple(p.input for p in flip_task.train) + flip_task.test_inputs
    assert not any(p.output in job.inputs for p in flip_task.train)


def test_cell_accuracy():
    a = Grid(((1, 2), (3, 4)))
    assert cell_accuracy(a, a) == 1.0
    assert cell_accuracy(a, Grid(((1, 2), (0, 0)))) == 0.5
    assert cell_accuracy(a, Grid(((1, 2),))) is None
