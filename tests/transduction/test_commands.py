"""`arc-hybrid transduce` / `finetune` on the tiny model, configs and presets."""
from __future__ import annotations

import json

import pytest

from arc_core.config import parse_overrides
from arc_core.submission import read_submission
from ensemble.cli import main
from transduction.config import PRESETS, TransductionConfig, preset
from transduction.pipeline import TransductionResult


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds(name):
    cfg = preset(name)
    assert isinstance(cfg, TransductionConfig)


def test_presets_match_the_paper():
    one, eight = preset("paper-1b"), preset("paper-8b")
    assert (one.lora.rank, one.lora.alpha, one.train.lr, one.train.epochs, one.train.batch_size) == (128, 16.0, 5e-5, 2, 2)
    assert (eight.train.lr, eight.lora.lm_head, one.lora.lm_head) == (1e-4, True, False)
    assert set(one.lora.target_modules) == {"q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"}
    assert one.data.max_examples == 250


def test_overrides_and_errors():
    cfg = preset("cpu-small", parse_overrides(["lora.rank=8", "infer.transforms=identity,rot90", "train.mode=none"]))
    assert cfg.lora.rank == 8 and cfg.infer.transforms == ("identity", "rot90") and cfg.train.mode == "none"
    with pytest.raises(ValueError, match="did you mean 'cpu-small'"):
        preset("cpu-smal")
    with pytest.raises(ValueError, match="did you mean 'rank'"):
        preset("cpu-small", parse_overrides(["lora.rnak=8"]))
    with pytest.raises(ValueError, match="must start with 'identity'"):
        preset("cpu-small", parse_overrides(["infer.transforms=rot90"]))
    with pytest.raises(ValueError, match="did you mean 'rot90'"):
        preset("cpu-small", parse_overrides(["data.dihedral=rot91"]))
    with pytest.raises(ValueError, match="score_views"):
        preset("cpu-small", parse_overrides(["infer.ranking=score"]))


TINY = ["--set", "data.max_examples=2", "--set", "train.epochs=1", "--set", "lora.rank=2", "--set", "lora.alpha=4",
        "--set", "infer.max_new_tokens=4", "--set", "infer.transforms=identity,rot90", "--device", "cpu"]


def test_transduce_command(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["transduce", "--dataset", "arc1/training", "--tasks", "6150a2bd,d631b094", "--out", str(out),
            "--set", f"model={tiny_model_dir}", "--set", "infer.score_views=2", "--set",
            "infer.ranking=votes-then-score", *TINY]
    assert main(argv) == 0
    assert "2 task(s) (0 reused)" in capsys.readouterr().out
    sub = read_submission(out / "submission.json")
    assert set(sub) == {"6150a2bd", "d631b094"}
    cands = json.loads((out / "candidates.json").read_text())
    assert set(cands) == set(sub)
    res = TransductionResult.from_dict(json.loads((out / "results" / "6150a2bd.json").read_text()))
    assert res.train is not None and res.train.n_examples == 2 and len(res.predictions) > 0
    assert all(p.transform in ("identity", "rot90") for p in res.predictions)
    assert (out / "adapters" / "6150a2bd" / "adapter_config.json").is_file()
    assert json.loads((out / "score.json").read_text())["tasks"] == 2
    contamination = json.loads((out / "contamination.json").read_text())  # a model without provenance: unknown
    assert contamination["provenance"] is None and contamination["tasks"] == {} and contamination["n_evaluated"] == 2
    assert main(argv) == 0  # resume: every result reused
    assert "(2 reused)" in capsys.readouterr().out
    assert main([*argv[:-len(TINY)], *TINY[:-2], "--set", "lora.rank=3", "--device", "cpu"]) == 2
    assert "different configuration" in capsys.readouterr().err
    # Another inference backend on resume would mix results of two backends in one run: refused.
    assert main([*argv, "--set", "lm.batch_size=3"]) == 2
    err = capsys.readouterr().err
    assert "different LM settings" in err and "batch_size" in err


def test_finetune_refuses_overlap_then_writes_model(tiny_model_dir, tmp_path, capsys, arc1):
    from arc_lm.models import load_hf_model

    argv = ["finetune", "--datasets", "arc1/training", "--limit", "2", "--eval-dataset", "arc1/training",
            "--out", str(tmp_path / "ft"), "--set", f"model={tiny_model_dir}", "--set", "train.min_steps=0", *TINY]
    assert main(argv) == 2
    assert "overlap the evaluation set" in capsys.readouterr().err
    assert main([*argv, "--allow-overlap"]) == 0
    model, _ = load_hf_model(tmp_path / "ft", device="cpu")
    assert model.config.num_hidden_layers == 2
    done = json.loads((tmp_path / "ft" / "finetune.json").read_text())
    assert done["record"]["n_tasks"] == 2 and done["config"]["data"]["recipe"] == "marc"
    assert len(done["record"]["overlap_allowed"]) == 2
    capsys.readouterr()
    # plan warns that these two tasks trained the model, and says so in its JSON
    trained = arc1[0].ids()[:2]
    assert main(["plan", "--dataset", "arc1/training", "--tasks", ",".join(trained + arc1[0].ids()[5:6]), "--json",
                 "--preset", "cpu-small", "--set", f"model={tmp_path / 'ft'}", "--set", "data.max_examples=2"]) == 0
    out, err = capsys.readouterr()
    assert "was trained on data of 2 of the 3 evaluated task(s)" in err
    assert sorted(json.loads(out)["totals"]["contaminated"]) == sorted(trained)


def test_full_finetune_changes_base_weights(tiny_model_dir, tiny_config, flip_task, tmp_path):
    import torch

    from arc_core.provenance import read_provenance
    from arc_lm.models import load_hf_model
    from transduction.finetune import FinetuneConfig, TrainingData, finetune

    model, tok = load_hf_model(tiny_model_dir, device="cpu", dtype="float32")
    before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    data = [TrainingData.from_dataset("hand-made", [flip_task])]
    rec = finetune(data, [], tiny_config(train={"lr": 1e-3}), tmp_path / "full", FinetuneConfig(method="full"),
                   model=model, tokenizer=tok)
    assert rec.method == "full" and rec.n_examples == 4 and rec.n_steps == 2
    saved, _ = load_hf_model(tmp_path / "full", device="cpu", dtype="float32")
    assert not torch.equal(saved.model.layers[0].mlp.up_proj.weight, before)
    assert read_provenance(tmp_path / "full").trained_ids() == {flip_task.id: "it is a training task of the model "
                                                                               "(dataset hand-made)"}
    with pytest.raises(ValueError, match="unknown fine-tuning method"):
        FinetuneConfig(method="qlora")
