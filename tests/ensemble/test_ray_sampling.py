"""Sampling batched across tasks (`ensemble.ray_sampling.RequestBatcher`), without Ray: concurrent
callers' requests share backend calls, every request keeps its own seed, so the samples equal the
unbatched path's; a failing request fails only its own caller."""
from __future__ import annotations

import hashlib
import re
import threading

import pytest

from arc_lm.api import FinishReason, GenerationResult
from ensemble.ray_sampling import RequestBatcher, default_batch_tasks
from induction.config import InductionConfig
from induction.sample import sample_task
from induction.samples import MemorySampleLog


class SeededFake:
    """A backend whose texts are a function of (prompt, seed, sample index) only, as with vLLM's
    per-request seeds; it records the requests of each call and holds the first call until released,
    so the calls that arrive meanwhile queue up."""

    name = "vllm"
    model_name = "fake"

    def __init__(self, hold_first: bool = False) -> None:
        self.calls: list[list] = []
        self.gate = threading.Event()
        if not hold_first:
            self.gate.set()
        self.entered = threading.Event()

    def generate(self, requests):
        self.calls.append(list(requests))
        self.entered.set()
        self.gate.wait(timeout=30)
        out = []
        for r in requests:
            if r.max_new_tokens == 13:
                raise ValueError("bad request")
            prompt = r.messages[-1].content if r.messages else r.prompt
            texts = tuple(hashlib.sha256(f"{prompt}|{r.seed}|{j}".encode()).hexdigest()[:12] for j in range(r.n))
            out.append(GenerationResult(texts, 3, (1,) * r.n, (FinishReason.STOP,) * r.n))
        return out


def _sample(task_id: str, backend, config: InductionConfig) -> list:
    messages = (("user", f"prompt of {task_id}"),)
    return sample_task(task_id, messages, config.n_samples, backend, config, MemorySampleLog(),
                       prompt_format=config.prompt_format)


def _concurrently(fns) -> list:
    out: list = [None] * len(fns)
    errors: list = [None] * len(fns)

    def call(i):
        try:
            out[i] = fns[i]()
        except Exception as e:  # recorded per caller and asserted on by the tests
            errors[i] = e

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    return threads, out, errors


def test_batched_samples_equal_unbatched_and_one_call_holds_several_tasks():
    config = InductionConfig(n_samples=6, batch_size=2, requests_per_call=3, seed=7)
    tasks = ["t1", "t2", "t3", "t4"]
    direct = SeededFake()
    want = {t: _sample(t, direct, config) for t in tasks}
    assert len(direct.calls) == len(tasks)  # unbatched: one call per task

    fake = SeededFake(hold_first=True)
    batcher = RequestBatcher(fake, max_calls=3)
    first, out1, _ = _concurrently([lambda: _sample("t1", batcher, config)])
    assert fake.entered.wait(timeout=30)  # t1's call holds the backend; the others queue behind it
    rest, out2, errors = _concurrently([lambda t=t: _sample(t, batcher, config) for t in tasks[1:]])
    while len(batcher._pending) < 3:
        threading.Event().wait(0.01)
    fake.gate.set()
    for t in first + rest:
        t.join(timeout=30)
    assert errors == [None, None, None]
    got = dict(zip(tasks, out1 + out2))
    for t in tasks:
        assert [(r.key, r.index, r.text) for r in got[t]] == [(r.key, r.index, r.text) for r in want[t]]
    assert len(fake.calls) == 2 and batcher.calls == 2
    merged = fake.calls[1]
    prompts = {r.messages[-1].content for r in merged}
    assert prompts == {f"prompt of {t}" for t in tasks[1:]}  # three tasks' prompts in one backend call
    assert len(merged) == 3 * 3  # each task's three requests (batches of 2 of its 6 samples)


def test_a_failing_request_fails_only_its_caller():
    fake = SeededFake(hold_first=True)
    batcher = RequestBatcher(fake, max_calls=4)
    good = InductionConfig(n_samples=2, batch_size=2, seed=1)
    bad = InductionConfig(n_samples=2, batch_size=2, seed=1, max_new_tokens=13)
    first, _, _ = _concurrently([lambda: _sample("t0", batcher, good)])
    assert fake.entered.wait(timeout=30)
    rest, out, errors = _concurrently([lambda: _sample("t1", batcher, good), lambda: _sample("t2", batcher, bad),
                                       lambda: _sample("t3", batcher, good)])
    while len(batcher._pending) < 3:
        threading.Event().wait(0.01)
    fake.gate.set()
    for t in first + rest:
        t.join(timeout=30)
    assert out[0] is not None and out[2] is not None and out[1] is None
    assert isinstance(errors[1], ValueError) and errors[0] is None and errors[2] is None
    assert [len(c) for c in fake.calls] == [1, 3, 1, 1, 1]  # the merged call failed: redone one by one


def test_batch_size_by_backend():
    assert default_batch_tasks("hf", 0) == 1
    assert default_batch_tasks("vllm", 0) == default_batch_tasks("openai", 0) == 16
    assert default_batch_tasks("hf", 4) == 4
    with pytest.raises(ValueError, match="max_calls"):
        RequestBatcher(SeededFake(), max_calls=0)


def _layout(cpus, gpus, sets, phase, n_tasks, nodes=1):
    from ensemble.config import build_run_config
    from ensemble.ray_exec import serves_transduction
    from ensemble.ray_layout import Resources, plan

    cfg = build_run_config("cpu-small", None, sets)
    counts = {"induction": n_tasks} if phase == "induction" else {"train": n_tasks, "infer": n_tasks}
    node = Resources(cpus / nodes, gpus / nodes)
    served = phase == "transduction" and serves_transduction(cfg)
    return {r: n for r, n in plan(cfg, phase, counts, [node] * nodes, served).counts.items() if n or r == "sampler"}


@pytest.mark.parametrize("cpus, gpus, sets, phase, want", [
    # 8 GPUs, 64 CPUs: a sampler per GPU, the CPUs they leave verify programs.
    (64, 8, [], "induction", {"sampler": 8, "induction": 56}),
    (64, 8, ["induction.n_samples=0"], "induction", {"sampler": 0, "induction": 64}),
    (64, 8, ["ray.gpus_per_worker=0.5"], "transduction", {"model": 16}),
    (64, 8, ["lm.backend=vllm"], "transduction", {"inference": 1, "ttt": 7}),
    (64, 1, ["lm.backend=vllm", "ray.gpus_per_worker=0.5"], "transduction", {"inference": 1, "ttt": 1}),
    # CPU only: half the CPUs sample, the rest verify.
    (2, 0, [], "induction", {"sampler": 1, "induction": 1}),
    (2, 0, ["ray.transduction_serving=on"], "transduction", {"inference": 1, "ttt": 1}),
    (2, 0, ["ray.transduction_serving=off", "lm.backend=vllm"], "transduction", {"model": 2}),
])
def test_actor_layout(cpus, gpus, sets, phase, want):
    assert _layout(cpus, gpus, sets, phase, 100) == want
    assert all(v <= 3 for v in _layout(cpus, gpus, sets, phase, 3).values())


@pytest.mark.parametrize("cpus, gpus, nodes, sets, phase, setting", [
    (2, 0, 1, ["ray.transduction_serving=on", "ray.serve_workers=2"], "transduction", "ray.serve_workers"),
    (2, 0, 1, ["ray.model_workers=4"], "transduction", "ray.model_workers=4"),
    (32, 4, 1, ["ray.model_workers=8"], "transduction", "ray.model_workers=8"),
    (2, 0, 1, ["ray.sandbox_workers=3", "induction.n_samples=0"], "induction", "ray.sandbox_workers=3"),
    (2, 0, 2, ["ray.cpus_per_worker=2"], "transduction", "ray.cpus_per_worker"),  # two 1-CPU nodes
    (16, 1, 1, ["lm.backend=vllm"], "transduction", "ray.gpus_per_worker"),  # no GPU left for a TTT actor
    (2, 0, 1, ["ray.cpus_per_worker=2"], "induction", "ray.cpus_per_worker"),  # no CPU left to verify
])
def test_a_layout_the_cluster_cannot_hold_is_refused_naming_the_setting(cpus, gpus, nodes, sets, phase, setting):
    """Before any actor is asked for (it would wait forever), whatever the number of tasks."""
    with pytest.raises(ValueError, match=re.escape(setting)):
        _layout(cpus, gpus, sets, phase, 1, nodes)


class FailsOnTask:
    """A serving backend that answers with the identity grid text, and raises on any call holding a
    request of the task whose prompts are `bad` (e.g. an adapter that cannot be loaded)."""

    name = "fake"

    def __init__(self, bad: set[str]) -> None:
        self.bad, self.calls = bad, []

    def generate(self, requests):
        self.calls.append(len(requests))
        if any(r.prompt in self.bad for r in requests):
            raise RuntimeError("adapter cannot be loaded")
        return [GenerationResult(("12\n21",), 1, (1,), (FinishReason.STOP,)) for _ in requests]

    def close(self):
        pass


def test_inference_actor_batch_failure_fails_only_the_bad_task(embedded_tokenizer, tmp_path):
    """`StageWorker.infer` (without Ray): several trained tasks in one serving call; when that call
    fails, each task is redone alone and only the one at fault records a failure."""
    from arc_core.datasets import load_dataset
    from transduction.formats import get_format
    from transduction.pipeline import InferenceEngine, TrainedTask, query_plan
    from transduction.predict import prediction_requests

    from ensemble.config import build_run_config
    from ensemble.ray_workers import InferWork, StageWorker
    from ensemble.stages import Solvers

    cfg = build_run_config("cpu-small", None, ["transduction.infer.score_views=0"])
    tc = cfg.transduction
    ds = load_dataset("arc1/training").select(["6150a2bd", "0d3d703e", "25ff71a9"])
    works = [InferWork(ds.tasks[t], TrainedTask(t, {"n_examples": 0}, None, None, {"data": 0.0, "train": 0.0}))
             for t in ds.ids()]
    bad = ds.tasks[ds.ids()[1]]
    plan = query_plan(bad, embedded_tokenizer, tc, 8192)
    prompts, _ = prediction_requests(bad, plan.queries, get_format(tc.data.format), embedded_tokenizer, tc.infer,
                                     None, plan.budgets)
    worker = StageWorker.__new__(StageWorker)  # its engine is the fake: no model loaded
    worker.name, worker.scratch = "inference-test", tmp_path
    worker.solvers = Solvers(cfg, None, workdir=tmp_path, remote_models=True)
    worker.solvers._engine = InferenceEngine(FailsOnTask(set(prompts)), embedded_tokenizer, 8192)
    results = worker.infer(works)
    assert [r.task_id for r in results] == [w.task.id for w in works]
    assert [r.failure is None for r in results] == [True, False, True]
    assert "adapter cannot be loaded" in results[1].failure.message
    assert len(worker.solvers._engine.backend.calls) == 1 + 3  # the merged call, then each task alone
    for r in (results[0], results[2]):  # the fake's answer, parsed (and mapped back per view)
        assert r.output.candidates and all(c.grid.shape == (2, 2) for c, _ in r.output.candidates)
