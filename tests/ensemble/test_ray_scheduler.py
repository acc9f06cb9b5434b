"""The Ray executor's scheduling under the real runner and store, on a fake Ray (tests/ensemble/fake_ray.py)
whose actors are plain objects: skips decided before dispatch, retries and process deaths counted
apart, replacements that never block the driver, samples streamed as drawn, adapters as bytes,
engines closed on release, a lost cluster noticed within seconds. Milliseconds each, no model."""
from __future__ import annotations

import json
import time

import pytest

from arc_core.candidates import Candidate, Source
from ensemble.config import build_run_config
from ensemble.executor import StageResult
from ensemble.runner import RunOptions, run
from ensemble.store import RunStore, StageOutput, StageStatus
from induction.samples import SampleRecord

from .fake_ray import Died, FakeRay

TASKS = ("6150a2bd", "25ff71a9", "0d3d703e")  # 25ff71a9 is the largest (90 cells)
SCRIPT: dict = {}


def _files(task_id: str) -> dict[str, bytes]:
    return {"adapter_config.json": b"{}", "adapter_model.safetensors": task_id.encode(), "record.json": b"{}"}


class FakeStageWorker:
    """Stands in for `ensemble.ray_workers.StageWorker`; what it does is read from SCRIPT."""

    def __init__(self, cfg, role, threads, name):
        self.role, self.name = role, name
        SCRIPT.setdefault("made", []).append(name)

    def info(self):
        return {"name": self.name, "host": "fake", "pid": 1, "node": "node-a", "load_seconds": 0.5}

    def close(self):
        SCRIPT.setdefault("closed", []).append(self.name)

    def _maybe_die(self, stage, task_id):
        SCRIPT.setdefault("ran", []).append((self.name, stage, task_id))
        left = SCRIPT.get("die", {}).get((stage, task_id), 0)
        if left:
            SCRIPT["die"][(stage, task_id)] = left - 1
            raise Died(f"killed during {stage} {task_id}")

    def induction(self, job):
        tid = job.task.id
        known = {r.index for r in job.samples}
        SCRIPT.setdefault("known", []).append((tid, sorted(known)))
        for i in range(3):
            if i in known:
                continue
            yield ("samples", [SampleRecord(tid, "p", "s", i, f"text {i}", "fake", "m", "barc")])
            if i == 1 and SCRIPT.get("die", {}).get(("induction", tid)):
                self._maybe_die("induction", tid)
        self._maybe_die("induction", tid)
        task = job.task
        verified = tid in SCRIPT.get("verified", ())
        cands = [(Candidate(tid, i, g, Source.INDUCTION, 0, 1.0, None, ("p",)), True)
                 for i, g in enumerate(task.test_inputs)] if verified else []
        yield ("result", StageResult(tid, "induction", StageOutput(candidates=cands), None, 0.01, self.name))

    def train(self, task, limits=None):
        from transduction.pipeline import TrainedTask

        SCRIPT.setdefault("limits", {})[("train", task.id)] = limits
        self._maybe_die("train", task.id)
        trained = TrainedTask(task.id, {"n_examples": 1}, None, f"transduction/adapters/{task.id}", {"train": 0.01})
        return StageResult(task.id, "train", StageOutput(result=trained.to_dict()), None, 0.01, self.name,
                           _files(task.id))

    def infer(self, works):
        out = []
        for w in works:
            SCRIPT.setdefault("limits", {})[("infer", w.task.id)] = w.limits
            self._maybe_die("infer", w.task.id)
            SCRIPT.setdefault("infer_files", {})[w.task.id] = (self.name, w.files)
            cands = [(Candidate(w.task.id, i, g, Source.TRANSDUCTION, 0, 1.0, None, ("identity",)), False)
                     for i, g in enumerate(w.task.test_inputs)]
            out.append(StageResult(w.task.id, "infer", StageOutput(candidates=cands), None, 0.01, self.name))
        return out


class FakeSampler:
    def __init__(self, lm, batch_tasks, seed, threads, name):
        self.name = name
        SCRIPT.setdefault("made", []).append(name)

    def info(self):
        return {"name": self.name, "host": "fake", "pid": 2, "node": "node-a", "load_seconds": 0.1,
                "identity": ("fake", "m")}

    def backend_calls(self):
        return 0

    def close(self):
        SCRIPT.setdefault("closed", []).append(self.name)


@pytest.fixture
def fake(monkeypatch):
    SCRIPT.clear()
    ray = FakeRay({"StageWorker": FakeStageWorker, "SamplerWorker": FakeSampler})
    monkeypatch.setattr("ensemble.ray_exec.require_ray", lambda: ray)
    # The driver's cluster check every 50 ms instead of 2 s: the same logic, found in milliseconds.
    monkeypatch.setattr("ensemble.ray_exec.HEALTH_EVERY_S", 0.05)
    return ray


def _cfg(*sets, tasks=TASKS):
    return build_run_config("cpu-small", None, ["ray.enabled=true", "induction.n_samples=3", *sets],
                            dataset="arc1/training", tasks=tasks)


def _rows(out):
    with RunStore(out) as s:
        return {(r["task_id"], r["stage"]): (r["status"], r["starts"], r["crashes"]) for r in s.stages()}


def test_skips_are_decided_before_dispatch(tmp_path, fake):
    """Item 1 of issue #19: one model actor, three tasks, the largest one skipping TTT: nothing is
    recorded crashed, the other two are trained and inferred."""
    SCRIPT["verified"] = {"25ff71a9"}
    out = tmp_path / "run"
    run(_cfg("ensemble.skip_ttt_when_verified=true", "ray.model_workers=1"), out)
    rows = _rows(out)
    assert rows[("25ff71a9", "train")][0] == rows[("25ff71a9", "infer")][0] == "skipped"
    assert all(rows[(t, s)] == ("done", 1, 0) for t in ("6150a2bd", "0d3d703e") for s in ("train", "infer"))
    assert not any(st == "failed" for st, _, _ in rows.values())
    assert ("model-3", "train", "25ff71a9") not in SCRIPT["ran"]


def test_a_dead_actor_is_retried_elsewhere_and_its_restart_blocks_nothing(tmp_path, fake):
    """The actor training the largest task dies: Ray restarts it (a while), meanwhile the other actor
    takes the retry and the rest; the retry is an attempt, not a crash of the run process."""
    SCRIPT["die"] = {("train", "25ff71a9"): 1}
    out = tmp_path / "run"
    run(_cfg(), out)
    rows = _rows(out)
    assert rows[("25ff71a9", "train")] == ("done", 2, 0)
    assert all(st == "done" for st, _, _ in rows.values())
    trains = [(w, t) for w, s, t in SCRIPT["ran"] if s == "train"]
    dead = trains[0][0]
    assert trains[0][1] == "25ff71a9"  # largest first
    assert [w for w, _ in trains[1:3]] != [dead, dead]  # the other actor worked while it restarted
    assert fake.by_name(dead).restarts == 1


def test_retries_exhausted_record_crashed(tmp_path, fake):
    SCRIPT["die"] = {("train", "0d3d703e"): 9}
    out = tmp_path / "run"
    run(_cfg("ray.max_retries=1"), out)
    with RunStore(out) as s:
        row = s.stage("0d3d703e", "train")
        assert (row["status"], row["reason"], row["starts"], row["crashes"]) == ("failed", "crashed", 2, 0)
        assert "died 2 time(s)" in row["error"]
        assert s.stage("0d3d703e", "infer") is None  # what it needs failed: not run
        assert s.stage_status("6150a2bd", "infer") is StageStatus.DONE


def test_samples_reach_the_store_as_drawn_and_survive_a_death(tmp_path, fake):
    """Item 6: the induction actor dies after drawing two samples; they are in the store, and the retry
    starts from them (nothing lost, nothing drawn twice)."""
    SCRIPT["die"] = {("induction", "6150a2bd"): 1}
    out = tmp_path / "run"
    run(_cfg("ensemble.transduction=false"), out)
    with RunStore(out) as s:
        assert [r["index"] for r in s.samples("6150a2bd")] == [0, 1, 2]
        assert s.stage("6150a2bd", "induction")["starts"] == 2
    assert ("6150a2bd", [0, 1]) in SCRIPT["known"]  # the retry got the two samples drawn before


def test_adapters_travel_as_bytes(tmp_path, fake):
    """Item 5: the driver writes each adapter under RUN_DIR; an infer on the actor that trained the task
    gets no bytes, one on another actor gets the files."""
    out = tmp_path / "run"
    run(_cfg(), out)
    for t in TASKS:
        d = out / "transduction" / "adapters" / t
        assert {p.name: p.read_bytes() for p in d.iterdir()} == _files(t)
    trained_by = {t: w for w, s, t in SCRIPT["ran"] if s == "train"}
    for t, (worker, files) in SCRIPT["infer_files"].items():
        assert (files is None) == (worker == trained_by[t]), (t, worker, trained_by[t])
        assert files is None or files == _files(t)


def test_resume_serves_adapters_from_the_run_dir(tmp_path, fake):
    """A resumed run infers from the adapters its earlier invocation trained (no TTT again)."""
    SCRIPT["die"] = {("infer", t): 9 for t in TASKS}
    out = tmp_path / "run"
    run(_cfg("ray.max_retries=0"), out)
    SCRIPT["die"] = {}
    SCRIPT["ran"] = []
    run(_cfg("ray.max_retries=0"), out, RunOptions(retry_failed=True))
    assert not [r for r in SCRIPT["ran"] if r[1] == "train"]
    assert all(files == _files(t) for t, (_, files) in SCRIPT["infer_files"].items())
    assert all(st == "done" for st, _, _ in _rows(out).values())


def test_engines_are_closed_on_release(tmp_path, fake):
    """Item 7: every actor frees what it holds (a vLLM engine stops its processes) before it is killed."""
    run(_cfg(), tmp_path / "run")
    assert sorted(SCRIPT["closed"]) == sorted(SCRIPT["made"]) == sorted(fake.killed)


def test_served_inference_takes_full_batches(tmp_path, fake):
    """TTT actors train; the inference actor gets `serve_batch_tasks` trained tasks per call, the rest
    once no training is left."""
    run(_cfg("ray.transduction_serving=on", "ray.serve_batch_tasks=2", "ray.num_cpus=2",
             tasks=("6150a2bd", "25ff71a9", "0d3d703e", "d631b094", "a85d4709")), tmp_path / "run")
    calls = [h.calls.count("infer") for h in fake.handles if h.name.startswith("inference")]
    batches = [w for w, s, _ in SCRIPT["ran"] if s == "infer"]
    assert calls == [3] and len(batches) == 5  # 2 + 2 + 1


def test_no_live_node_stops_the_run_within_seconds(tmp_path, fake):
    """Item 12: the cluster's only node died: the run says so within seconds, keeps what it has,
    marks what was in flight interrupted, and a resume continues."""
    from ensemble.ray_exec import ClusterLost

    SCRIPT["die"] = {("train", "25ff71a9"): 1}
    fake.restart_ticks = None  # the dead actor never comes back ...
    real_died = fake.died

    def node_gone(handle):
        real_died(handle)
        fake.node_list[0]["Alive"] = False  # ... because its node is gone

    fake.died = node_gone
    out = tmp_path / "run"
    t0 = time.monotonic()
    with pytest.raises(ClusterLost, match="no live node"):
        run(_cfg("ray.model_workers=1"), out)
    assert time.monotonic() - t0 < 10
    rows = _rows(out)
    assert rows[("6150a2bd", "induction")][0] == "done"
    assert not any(st == "running" for st, _, _ in rows.values())
    assert (out / "submission.json").is_file()
    fake.node_list[0]["Alive"], fake.died, fake.restart_ticks = True, real_died, 3
    run(_cfg("ray.model_workers=1"), out)
    assert all(st == "done" for st, _, _ in _rows(out).values())


def test_a_replacement_no_node_can_host_stops_the_run(tmp_path, fake):
    from ensemble.ray_exec import ClusterLost

    SCRIPT["die"] = {("train", "25ff71a9"): 1}
    fake.restart_ticks = None
    real_died = fake.died

    def shrink(handle):
        real_died(handle)
        fake.node_list[0]["Resources"] = {"CPU": 0.5, "GPU": 0.0}  # what is left cannot hold a 1-CPU actor

    fake.died = shrink
    with pytest.raises(ClusterLost, match="no live node can host a model actor"):
        run(_cfg("ray.model_workers=1"), tmp_path / "run")


def test_an_oversized_layout_is_refused_before_anything_starts(tmp_path, fake):
    with pytest.raises(ValueError, match="ray.model_workers=4"):
        run(_cfg("ray.model_workers=4"), tmp_path / "run")
    assert "made" not in SCRIPT or not any(n.startswith("model") for n in SCRIPT["made"])


def test_an_owned_cluster_is_shut_down_when_the_executor_cannot_be_built(tmp_path, monkeypatch):
    ray = FakeRay({"StageWorker": FakeStageWorker, "SamplerWorker": FakeSampler}, initialized=False)
    monkeypatch.setattr("ensemble.ray_exec.require_ray", lambda: ray)
    bad = tmp_path / "missing.jsonl"
    with pytest.raises(Exception):
        run(_cfg(), tmp_path / "run", RunOptions(programs_file=bad))
    assert ray.shut_down


def test_an_actor_that_cannot_start_is_given_up(tmp_path, fake):
    """Its constructor raises: the probe fails for good, the actor leaves the pool, and with no actor
    left for its role the queued stages are recorded crashed instead of waiting forever."""
    real = FakeStageWorker.__init__

    def broken(self, cfg, role, threads, name):
        real(self, cfg, role, threads, name)
        if role == "model":
            self.info = lambda: (_ for _ in ()).throw(fake.exceptions.ActorDiedError("constructor raised"))

    FakeStageWorker.__init__ = broken
    try:
        run(_cfg(), tmp_path / "run")
    finally:
        FakeStageWorker.__init__ = real
    with RunStore(tmp_path / "run") as s:
        assert {s.stage(t, "train")["reason"] for t in TASKS} == {"crashed"}
        assert "no model actor left" in s.stage("6150a2bd", "train")["error"]


def test_trained_tasks_are_inferred_when_their_ttt_actor_dies(tmp_path, fake):
    """Served transduction: the TTT actor dies after training a task; that task's inference still runs
    on the inference actor, the task it died on is recorded crashed, the rest trains once it is back."""
    SCRIPT["die"] = {("train", "0d3d703e"): 9}
    out = tmp_path / "run"
    run(_cfg("ray.transduction_serving=on", "ray.max_retries=0", "ray.serve_batch_tasks=8"), out)
    rows = _rows(out)
    assert rows[("0d3d703e", "train")][0] == "failed"
    assert {t for (t, s), (st, _, _) in rows.items() if s == "infer" and st == "done"} == {"6150a2bd", "25ff71a9"}


def test_an_actor_that_never_comes_back_is_given_up_after_the_start_timeout(tmp_path, fake):
    """Its node still has room, yet Ray never brings it back: after ray.start_timeout_s the actor is given
    up and the stages left without any actor are recorded crashed, rather than waiting forever."""
    SCRIPT["die"] = {("train", "25ff71a9"): 1}
    fake.restart_ticks = None
    out = tmp_path / "run"
    t0 = time.monotonic()
    run(_cfg("ray.model_workers=1", "ray.start_timeout_s=0.5"), out)
    assert time.monotonic() - t0 < 10
    with RunStore(out) as s:
        assert {s.stage(t, "train")["reason"] for t in TASKS} == {"crashed"}
        assert "no model actor left" in s.stage("0d3d703e", "train")["error"]
        assert s.task_status("6150a2bd")[0] == "failed"


def test_a_time_budget_on_ray_limits_stages_and_stops_dispatch_at_the_margin(tmp_path, fake, monkeypatch):
    """Every stage dispatched to an actor carries its limits; once the margin is reached nothing more is
    dispatched, the run ends normally with what it has, and the unreached stages are recorded."""
    import ensemble.timebudget as tb
    from ensemble.timebudget import TaskCost

    monkeypatch.setattr(tb, "task_costs", lambda tasks, cfg: {t.id: TaskCost(100, 10, 10, 6, 3) for t in tasks})
    clock = [0.0]
    monkeypatch.setattr(tb.time, "monotonic", lambda: clock[0])
    real_train = FakeStageWorker.train

    def slow_train(self, task, limits=None):
        clock[0] += 45.0  # each TTT takes 45 s of the budget
        return real_train(self, task, limits)

    monkeypatch.setattr(FakeStageWorker, "train", slow_train)
    out = tmp_path / "run"
    run(_cfg("ray.model_workers=1", "budget.seconds=100", "budget.margin_s=10"), out)
    trained = [t for (s, t), lim in SCRIPT["limits"].items() if s == "train"]
    assert trained == ["25ff71a9", "0d3d703e"]  # largest first; the third would start past the margin
    assert all(SCRIPT["limits"][("train", t)].train_seconds > 0 for t in trained)
    with RunStore(out) as s:
        cuts = s.get_meta("budget")["cuts"]
        assert cuts["6150a2bd"] == ["train: not started, the time budget's margin was reached"]
        assert cuts["0d3d703e"][-1] == "infer: not started, the time budget's margin was reached"
        assert s.stage("6150a2bd", "train") is None and s.stage_status("25ff71a9", "infer") is StageStatus.DONE
    assert set(json.loads((out / "submission.json").read_text())) == set(TASKS)
