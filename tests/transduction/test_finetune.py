"""`finetune` on re-ARC and dataset tasks with the tiny model: outputs, provenance, contamination guard,
resuming after an interruption (in process, and after `kill -9` of a subprocess: slow)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from arc_core.provenance import read_provenance
from transduction.finetune import FinetuneConfig, TrainingData, finetune
from transduction.rearc import ReArcSpec, generate

SOME = ("007bbfb7", "25ff71a9", "3c9b0459", "6150a2bd")  # generators that draw grids <= 6x6 readily
SPEC = ReArcSpec(1, per_generator=True, include=SOME, demos=(2, 2), max_side=6)


def _run(tiny_model_dir, tiny_config, out, ft, on_step=None, sources=None, eval_tasks=()):
    from arc_lm.models import load_hf_model

    model, tok = load_hf_model(tiny_model_dir, device="cpu", dtype="float32")
    cfg = tiny_config(model=str(tiny_model_dir), data={"recipe": "marc", "max_examples": 3})
    if sources is None:
        drawn = generate(SPEC)
        sources = [TrainingData(tuple(drawn.dataset.tasks[t] for t in drawn.dataset.ids()), drawn.source())]
    return finetune(sources, list(eval_tasks), cfg, out, ft, model=model, tokenizer=tok, on_step=on_step)


def _weights(path):
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


def test_lora_on_rearc_writes_adapter_merged_model_data_and_provenance(tiny_model_dir, tiny_config, tmp_path,
                                                                       monkeypatch, arc1):
    monkeypatch.setenv("ARC_HYBRID_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "ft"
    rec = _run(tiny_model_dir, tiny_config, out, FinetuneConfig(adapter_dtype="float16", checkpoint_every=2,
                                                                log_every=2))
    assert rec.n_steps == len(rec.losses) > 0 and rec.resumed_from == 0 and rec.tokens_per_second > 0
    assert (out / "config.json").is_file() and (out / "finetune.json").is_file() and not (out / "checkpoint").exists()
    examples = (out / "data" / "examples.jsonl").read_text().splitlines()
    assert len(examples) == rec.n_examples and json.loads(examples[0])["task_id"].startswith("rearc-")
    from safetensors.torch import load_file

    adapter = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    assert adapter and all(t.dtype == torch.float16 for t in adapter.values())
    assert json.loads((out / "adapter" / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)
    for where in (out, out / "adapter"):
        prov = read_provenance(where)
        assert prov.data_digest == rec.data_digest and prov.method == "lora" and prov.n_examples == rec.n_examples
        [src] = prov.sources
        assert src.kind == "rearc" and src.task_ids == SOME and src.details["spec"]["max_side"] == 6
    # the adapter directory is a model name: merged on first use, equal to the merged model written
    from arc_lm.models import load_tokenizer, resolve_model

    merged = resolve_model(str(out / "adapter"))
    assert merged != out and (merged / "training_provenance.json").is_file()
    ours, theirs = _weights(out), _weights(merged)
    assert ours.keys() == theirs.keys() and all(torch.allclose(ours[k], theirs[k], atol=1e-6) for k in ours)
    assert load_tokenizer(str(out / "adapter")).eos_token is not None
    # contamination: the generators' tasks are not held out from this model
    from transduction.provenance import contamination

    report = contamination(str(out), arc1[0].ids()[:50] + list(SOME))
    assert set(report.tasks) == set(src.task_ids) and "not held-out" in report.warning()
    assert contamination(str(out / "adapter"), arc1[1].ids()).tasks == {}
    with pytest.raises(ValueError, match="finished fine-tuning run"):
        _run(tiny_model_dir, tiny_config, out, FinetuneConfig())


def test_guard_refuses_generators_of_evaluation_tasks(tiny_model_dir, tiny_config, tmp_path, arc1):
    evaluation = [arc1[0].tasks[t] for t in SOME[:2]]  # "evaluating" on training tasks whose generators train
    with pytest.raises(ValueError, match="overlap the evaluation set.*re-ARC generator"):
        _run(tiny_model_dir, tiny_config, tmp_path / "x", FinetuneConfig(), eval_tasks=evaluation)
    rec = _run(tiny_model_dir, tiny_config, tmp_path / "y", FinetuneConfig(allow_overlap=True, merge=False),
               eval_tasks=evaluation)
    assert set(rec.overlap_allowed) == set(SOME[:2]) and not (tmp_path / "y" / "config.json").exists()
    # dataset sources: a training task that is an evaluation task is refused as before
    same = TrainingData.from_dataset("arc1/training", evaluation)
    with pytest.raises(ValueError, match="same task id"):
        _run(tiny_model_dir, tiny_config, tmp_path / "z", FinetuneConfig(), sources=[same], eval_tasks=evaluation)


class Interrupt(Exception):
    pass


def test_resume_after_interruption_gives_the_same_weights(tiny_model_dir, tiny_config, tmp_path):
    full = _run(tiny_model_dir, tiny_config, tmp_path / "a", FinetuneConfig(checkpoint_every=2))
    assert full.n_steps >= 6

    def stop(step, loss):
        if step == 5:
            raise Interrupt()

    with pytest.raises(Interrupt):
        _run(tiny_model_dir, tiny_config, tmp_path / "b", FinetuneConfig(checkpoint_every=2), on_step=stop)
    assert (tmp_path / "b" / "checkpoint" / "state.pt").is_file() and not (tmp_path / "b" / "finetune.json").exists()
    with pytest.raises(ValueError, match="another fine-tuning run"):  # another training set-up: refused
        _run(tiny_model_dir, tiny_config, tmp_path / "b", FinetuneConfig(method="full"))
    resumed = _run(tiny_model_dir, tiny_config, tmp_path / "b", FinetuneConfig(checkpoint_every=2))
    assert resumed.resumed_from == 4 and resumed.losses == full.losses
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)


KILLED = """
import sys, time
from arc_lm.models import load_hf_model
from transduction.config import preset, replace
from transduction.finetune import FinetuneConfig, TrainingData, finetune
from transduction.rearc import ReArcSpec, generate
model_dir, out = sys.argv[1], sys.argv[2]
model, tok = load_hf_model(model_dir, device="cpu", dtype="float32")
cfg = replace(preset("cpu-small"), model=model_dir, data={"recipe": "marc", "max_examples": 3},
              lora={"rank": 4, "alpha": 8.0}, train={"epochs": 1, "batch_size": 2, "min_steps": 0})
drawn = generate(ReArcSpec(1, per_generator=True, include=%r, demos=(2, 2), max_side=6))
data = [TrainingData(tuple(drawn.dataset.tasks[t] for t in drawn.dataset.ids()), drawn.source())]
finetune(data, [], cfg, out, FinetuneConfig(checkpoint_every=2), model=model, tokenizer=tok,
         on_step=lambda step, loss: time.sleep(0.3))
""" % (SOME,)


@pytest.mark.slow
def test_resume_after_kill_9_gives_the_same_weights(tiny_model_dir, tiny_config, tmp_path):
    """A subprocess killed with SIGKILL after its second checkpoint, then resumed here: the same final
    weights and losses as an uninterrupted run (bit for bit on CPU)."""
    full = _run(tiny_model_dir, tiny_config, tmp_path / "a", FinetuneConfig(checkpoint_every=2))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tiny_model_dir), str(out)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    state, seen = out / "checkpoint" / "state.pt", []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(seen) < 2 and proc.poll() is None:
        if state.is_file() and state.stat().st_mtime_ns not in seen:
            seen.append(state.stat().st_mtime_ns)
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(seen) == 2 and not (out / "finetune.json").exists(), "the run was not killed mid-way"
    resumed = _run(tiny_model_dir, tiny_config, out, FinetuneConfig(checkpoint_every=2))
    assert resumed.resumed_from >= 4 and resumed.losses == full.losses
    a, b = _weights(tmp_path / "a"), _weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_progress_lines_give_loss_speed_and_eta():
    from transduction.checkpoint import Progress

    lines = []
    progress = Progress(total=5, step_tokens=[10] * 5, start_step=1, log=lines.append, every=2)
    for step, loss in ((2, 1.0), (3, 3.0), (4, 1.0), (5, 2.0)):
        progress(step, loss)
    assert [line.split(" loss")[0] for line in lines] == ["step 2/5", "step 4/5", "step 5/5"]
    assert " loss 2.0000 " in lines[1] and "tok/s" in lines[0] and "ETA" in lines[0] and lines[-1].endswith("ETA 0m00s")
