"""Contamination reports: where a model's provenance is found (no weights loaded) and what they say."""
from __future__ import annotations

from arc_core.provenance import TrainingProvenance, TrainingSource, write_provenance
from transduction.provenance import ContaminationReport, contamination, read_report, write_report


def test_local_directory_unknown_model_and_published_checkpoint(tmp_path, arc1):
    prov = TrainingProvenance("smollm2-135m", "lora", (TrainingSource("rearc", "rg", ("007bbfb7",), 3),), "d", 3, 30)
    write_provenance(tmp_path / "m", prov)
    report = contamination(str(tmp_path / "m"), ["007bbfb7", "00576224"])
    assert report.known and report.tasks == {"007bbfb7": prov.trained_ids()["007bbfb7"]}
    assert "1 of the 2 evaluated" in report.warning() and "007bbfb7" in report.warning()
    held_out = contamination(str(tmp_path / "m"), ["00576224"])
    assert held_out.known and held_out.warning() is None
    unknown = contamination("some-org/some-model", ["007bbfb7"])
    assert not unknown.known and unknown.warning() is None
    marc = contamination("ekinakyurek/marc-8B-finetuned-llama3", arc1[0].ids()[:3] + arc1[1].ids()[:3])
    assert sorted(marc.tasks) == sorted(arc1[0].ids()[:3]) and marc.provenance.startswith("published")
    write_report(tmp_path / "run", report)
    assert read_report(tmp_path / "run") == report and read_report(tmp_path) is None
    assert ContaminationReport.from_dict(report.to_dict()) == report


def test_the_embedded_arc_model_names_its_generators(arc1):
    report = contamination("smollm2-135m-arc", arc1[0].ids() + arc1[1].ids())
    assert report.known and report.tasks and set(report.tasks) <= set(arc1[0].ids())
    assert all("re-ARC generator" in why for why in report.tasks.values())
