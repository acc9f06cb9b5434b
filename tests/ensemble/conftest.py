"""Fixtures for the ensemble tests: a synthetic run store (no model), filled through the store's
own API with hand-made solver outputs, for store, summary, CLI and report tests."""
from __future__ import annotations

from pathlib import Path

import pytest

from arc_core.candidates import Candidate, Source
from arc_core.datasets import load_dataset
from arc_core.grid import Grid
from ensemble.policies import PolicyInput, apply_policy
from ensemble.store import FailureReason, RunStore, StageOutput

TASKS = ("0d3d703e", "6150a2bd", "25ff71a9")


def _program(task, pid: str, right: bool, crash: bool = False) -> dict:
    pairs = []
    for p in task.train:
        if crash:
            pairs.append({"status": "exception", "output": None, "exact": False, "cell_accuracy": None,
                          "error_type": "ZeroDivisionError", "error": "division by zero"})
        else:
            out = p.output if right else p.input
            pairs.append({"status": "ok", "output": out.to_list(), "exact": out == p.output,
                          "cell_accuracy": 1.0 if right else 0.5, "error_type": None, "error": None})
    return {"program_id": pid, "status": "verified" if right else ("error" if crash else "failed"),
            "multiplicity": 3 if right else 1, "round": 0,
            "source": "def transform(grid):\n    # a comment\n    return grid + 1\n",
            "pairs": pairs, "tests": [{"status": "ok", "output": g.to_list()} for g in task.test_inputs]}


def fill_synthetic(run_dir: Path) -> tuple[RunStore, object]:
    """A run over TASKS: task 0 solved by a verified program, task 1 by transduction, task 2's
    transduction failed (its train stage: out of memory)."""
    ds = load_dataset("arc1/training").select(list(TASKS))
    store = RunStore(run_dir)
    store.set_meta("dataset", "arc1/training")
    store.set_meta("config", {"ensemble": {"policy": "prefer-programs"}})
    store.add_tasks([ds.tasks[t] for t in TASKS])
    wrong = Grid(((5, 5), (5, 5)))
    for k, tid in enumerate(TASKS):
        task, truth = ds.tasks[tid], ds.solutions[tid]
        store.start_stage(tid, "induction")
        ind = StageOutput(programs=[_program(task, f"p{k}good", k == 0), _program(task, f"p{k}bad", False),
                                    _program(task, f"p{k}crash", False, crash=True)])
        if k == 0:
            ind.candidates = [(Candidate(tid, i, truth[i], Source.INDUCTION, 0, 3.0, None, (f"p{k}good",)), True)
                              for i in range(task.n_test)]
        store.finish_stage(tid, "induction", ind, 1.5)
        store.start_stage(tid, "train")
        if k == 2:
            store.fail_stage(tid, "train", FailureReason.OUT_OF_MEMORY, "MemoryError: synthetic", 0.5)
        else:
            ttt = {"examples": 12, "tokens": 3400, "seconds": 2.5, "loss_curve": [2.0, 1.5, 1.1, 0.7, 0.6]}
            store.finish_stage(tid, "train", StageOutput(ttt=ttt), 2.5)
            cands = []
            for i in range(task.n_test):
                first = truth[i] if k == 1 else wrong
                cands += [(Candidate(tid, i, first, Source.TRANSDUCTION, 0, 4.0, -1.25, ("identity", "rot90")), False),
                          (Candidate(tid, i, wrong if k == 1 else task.test_inputs[i], Source.TRANSDUCTION, 1, 1.0,
                                     None, ("flipud",)), False)]
            votes = {i: {"test_index": i, "per_transform": {"identity": [[truth[i].to_list() if k == 1 else wrong.to_list(), 2]]},
                         "stage1": {"identity": [wrong.to_list()]},
                         "ranked": [{"grid": wrong.to_list(), "votes": 4, "identity_count": 1, "count": 2,
                                     "transforms": ["identity"]}]} for i in range(task.n_test)}
            store.start_stage(tid, "infer")
            store.finish_stage(tid, "infer", StageOutput(candidates=cands, votes=votes), 0.5)
        verified, trans = {}, {}
        for c, ok in store.candidates(tid):
            (verified if c.source is Source.INDUCTION else trans).setdefault(c.test_index, []).append(c)
        chosen = apply_policy("prefer-programs", PolicyInput(tid, task.n_test, verified, {}, trans))
        store.start_stage(tid, "ensemble")
        store.finish_stage(tid, "ensemble", StageOutput(attempts=[a for per in chosen for a in per]), 0.01)
    return store, ds


@pytest.fixture
def synthetic_run(tmp_path):
    run_dir = tmp_path / "run"
    store, ds = fill_synthetic(run_dir)
    yield run_dir, store, ds
    store.close()


# ---- real runs on the tiny random model -------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
RUN_TASKS = ("6150a2bd", "25ff71a9")  # 3x3 grids; 25ff71a9 has two test inputs

PROGRAMS = [
    # 6150a2bd is a 180-degree rotation: one right program (sampled twice), one wrong, one crashing.
    {"task_id": "6150a2bd", "code": ["import numpy as np\ndef transform(grid):\n    return np.rot90(grid, 2)\n",
                                     "def transform(grid):\n    return grid\n",
                                     "def transform(grid):\n    return 1 // 0\n",
                                     "import numpy as np\n\ndef transform(grid):\n    # same program\n"
                                     "    return np.rot90(grid, 2)\n"]},
    {"task_id": "25ff71a9", "code": "import numpy as np\ndef transform(grid):\n    return np.roll(grid, 1, axis=0)\n"},
]

TINY_TOML = """
[lm]
model = "{model}"
device = "cpu"
[sandbox]
timeout_s = 5.0
[induction]
n_samples = 1
batch_size = 1
max_new_tokens = 8
[transduction]
model = "{model}"
[transduction.data]
max_examples = 2
dihedral = ["identity"]
copies = 1
leave_two_out = false
[transduction.lora]
rank = 2
alpha = 4.0
target_modules = ["q_proj", "v_proj"]
[transduction.train]
epochs = 1
batch_size = 1
min_steps = 0
[transduction.infer]
transforms = ["identity"]
permutations = 0
max_new_tokens = 8
batch_size = 4
"""


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory, tiny_model_dir) -> tuple[Path, Path]:
    """(config TOML for tiny, fast solver settings on the tiny model, programs JSONL file)."""
    import json

    d = tmp_path_factory.mktemp("tiny-inputs")
    cfg = d / "tiny.toml"
    cfg.write_text(TINY_TOML.format(model=tiny_model_dir))
    progs = d / "programs.jsonl"
    progs.write_text("".join(json.dumps(p) + "\n" for p in PROGRAMS))
    return cfg, progs


def run_args(config: Path, programs: Path, out: Path) -> list[str]:
    return ["run", "--dataset", "arc1/training", "--tasks", ",".join(RUN_TASKS), "--out", str(out),
            "--config", str(config), "--programs", str(programs)]


@pytest.fixture(scope="session")
def tiny_run_args(tiny_inputs):
    """A function RUN_DIR -> the `arc-hybrid run ...` arguments of the tiny runs."""
    return lambda out: run_args(*tiny_inputs, out)


@pytest.fixture(scope="session")
def tiny_reference_run(tmp_path_factory, tiny_inputs) -> Path:
    """One uninterrupted `arc-hybrid run` (in-process through the CLI's `main`, so imports and the
    tiny model load are paid once), shared by the resume and CLI tests."""
    from ensemble.cli import main

    out = tmp_path_factory.mktemp("ref") / "run"
    assert main(run_args(*tiny_inputs, out)) == 0
    return out
