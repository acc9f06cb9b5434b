"""Overlap by task id and grid content (arc_core.overlap), the `overlap` command, and its use by finetune."""
from __future__ import annotations

import json

import pytest

from arc_core.datasets import load_dataset
from arc_core.overlap import SAME_ID, find_overlap, overlap_report
from arc_core.task import Task


@pytest.fixture(scope="module")
def arc1_eval():
    ds = load_dataset("arc1/evaluation")
    return [ds.tasks[t] for t in ds.ids()]


def test_overlap_by_id_and_grid(arc1_eval):
    train = load_dataset("arc1/training")
    assert find_overlap(arc1_eval, [train.tasks[t] for t in train.ids()[:20]]) == {}  # 0520fde7 shares one grid
    t = arc1_eval[0]
    assert find_overlap(arc1_eval, [t]) == {t.id: SAME_ID}
    clone = Task("renamed", t.train, t.test_inputs)
    assert "shares" in find_overlap(arc1_eval, [clone])["renamed"]
    report = overlap_report(arc1_eval, [t, clone])
    assert {k: report[k] for k in ("overlap", "by_id", "by_content", "by_provenance")} == {
        "overlap": sorted([t.id, "renamed"]), "by_id": 1, "by_content": 1, "by_provenance": 0}


def test_arc2_training_holds_376_arc1_evaluation_ids(arc1_eval):
    arc2 = load_dataset("arc2/training")
    report = overlap_report([arc2.tasks[t] for t in arc2.ids()], arc1_eval)
    assert report["by_id"] == 376
    assert report["by_id"] + report["by_content"] == len(report["overlap"]) >= 376
    assert set(report["overlap"]) <= {t.id for t in arc1_eval}


def test_overlap_command_json(capsys):
    from ensemble.cli import main

    assert main(["overlap", "arc2/training", "arc1/evaluation", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["by_id"] == 376 and len(out["overlap"]) == out["by_id"] + out["by_content"]


def test_finetune_refuses_overlap_through_the_shared_check(arc1_eval, tmp_path):
    from transduction.config import preset
    from transduction.finetune import TrainingData, finetune

    with pytest.raises(ValueError, match="overlap the evaluation set"):
        finetune([TrainingData.from_dataset("arc1/evaluation", arc1_eval[:1])], arc1_eval, preset("cpu-small"),
                 tmp_path / "ft")
