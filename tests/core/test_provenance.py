"""Training provenance files: round trip, errors, which evaluated ids they make suspect; `overlap` reads them."""
from __future__ import annotations

import json

import pytest

from arc_core.provenance import (PROVENANCE_FILE, TrainingProvenance, TrainingSource, contaminated, read_provenance,
                                 write_provenance)


def _prov() -> TrainingProvenance:
    return TrainingProvenance(
        "smollm2-135m", "lora",
        (TrainingSource("dataset", "arc1/training", ("007bbfb7", "00d62c1b"), 2),
         TrainingSource("rearc", "reasoning-gym==0.1.25", ("00d62c1b", "017c7c7b"), 7, {"spec": {"seed": 0}})),
        "ab" * 32, 21, 4321)


def test_round_trip_and_trained_ids(tmp_path):
    prov = _prov()
    path = write_provenance(tmp_path / "model", prov)
    assert path.name == PROVENANCE_FILE and read_provenance(tmp_path / "model") == prov == read_provenance(path)
    assert read_provenance(tmp_path) is None
    trained = prov.trained_ids()
    assert list(trained) == ["007bbfb7", "00d62c1b", "017c7c7b"]
    assert "training task" in trained["00d62c1b"] and "re-ARC generator" in trained["017c7c7b"]
    assert contaminated(prov, ["017c7c7b", "ffffffff"]) == {"017c7c7b": trained["017c7c7b"]}
    assert contaminated(None, ["017c7c7b"]) == {}


def test_bad_files_raise_naming_the_file(tmp_path):
    (tmp_path / PROVENANCE_FILE).write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_provenance(tmp_path)
    (tmp_path / PROVENANCE_FILE).write_text(json.dumps({"format": 99}))
    with pytest.raises(ValueError, match="unknown provenance format"):
        read_provenance(tmp_path)
    (tmp_path / PROVENANCE_FILE).write_text(json.dumps({"format": 1, "sources": []}))
    with pytest.raises(ValueError, match="malformed training provenance"):
        read_provenance(tmp_path)
    with pytest.raises(ValueError, match="kind"):
        TrainingSource("weights", "x", (), 0)


def test_overlap_reads_a_model_directorys_provenance(tmp_path, capsys):
    from arc_core.commands import COMMANDS
    from arc_core.overlap import load_reference

    write_provenance(tmp_path, _prov())
    tasks, trained, what = load_reference(str(tmp_path))
    assert [t.id for t in tasks] == ["007bbfb7", "00d62c1b"] and set(trained) == {"007bbfb7", "00d62c1b", "017c7c7b"}
    assert "training data" in what
    import argparse

    cmd = next(c for c in COMMANDS if c.name == "overlap")
    parser = argparse.ArgumentParser()
    cmd.add_arguments(parser)
    assert cmd.run(parser.parse_args([str(tmp_path), "arc1/training", "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overlap"] == ["007bbfb7", "00d62c1b", "017c7c7b"]
    assert (report["by_id"], report["by_content"], report["by_provenance"]) == (2, 0, 1)
    assert cmd.run(parser.parse_args([str(tmp_path / PROVENANCE_FILE), "arc1/evaluation"])) == 0
    assert "by training provenance" in capsys.readouterr().out
