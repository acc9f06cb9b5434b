"""`run` checks its models' training provenance against the evaluated tasks: it warns, records the
reports in the run's meta, and the HTML report shows the warning. No model weights are loaded: the
induction model is a directory holding only a provenance file; its backend is a stand-in and sampling
fails (recorded per task, as tests/ensemble/test_failures.py has it)."""
from __future__ import annotations

import pytest

import arc_lm
import induction.pipeline
from arc_core.provenance import TrainingProvenance, TrainingSource, write_provenance
from ensemble.config import build_run_config
from ensemble.contamination import recorded, run_models
from ensemble.report import render_report
from ensemble.runner import run
from ensemble.store import RunStore

TASKS = ("0d3d703e", "25ff71a9")


class _StandIn:
    """A backend that is never sampled (induce_task is replaced); the run closes it at the end."""

    def close(self) -> None:
        pass


def _cfg(tiny_inputs, *sets):
    return build_run_config(None, tiny_inputs[0], ["ensemble.transduction=false", *sets],
                            dataset="arc1/training", tasks=TASKS)


def test_run_warns_and_records_contamination(tmp_path, tiny_inputs, monkeypatch, capsys):
    model = tmp_path / "finetuned"
    prov = TrainingProvenance("smollm2-135m", "lora", (TrainingSource("rearc", "rg", ("0d3d703e", "007bbfb7"), 2),),
                              "d", 2, 20)
    write_provenance(model, prov)

    def no_sampling(task, *args, **kwargs):
        raise RuntimeError("this test samples nothing")

    monkeypatch.setattr(arc_lm, "load_backend", lambda cfg: _StandIn())
    monkeypatch.setattr(induction.pipeline, "induce_task", no_sampling)
    cfg = _cfg(tiny_inputs, f"lm.model={model}", "induction.n_samples=1")
    assert run_models(cfg) == [str(model)]
    out = tmp_path / "run"
    ds = run(cfg, out)
    err = capsys.readouterr().err
    assert "warning: model" in err and "1 of the 2 evaluated" in err and "0d3d703e" in err
    with RunStore(out) as store:
        [report] = recorded(store)
        assert report.model == str(model) and report.tasks == {"0d3d703e": prov.trained_ids()["0d3d703e"]}
        assert report.provenance == str(model)
        assert "this test samples nothing" in store.stage("0d3d703e", "induction")["error"]  # the run went on
        page = render_report(store, ds)
    assert 'id="contamination"' in page and "not held-out" in page and "0d3d703e" in page


@pytest.mark.parametrize("sets, models", [
    (("induction.n_samples=0",), []),                       # imported programs only: no model runs
    (("ensemble.transduction=true", "induction.n_samples=0"), ["T"]),
    (("ensemble.transduction=true", "induction.n_samples=1"), ["T", "L"]),
    (("ensemble.transduction=true", "induction.n_samples=1", "lm.model=T"), ["T"]),  # one model, checked once
])
def test_run_models(tiny_inputs, sets, models):
    cfg = _cfg(tiny_inputs, "transduction.model=T", "lm.model=L", *sets)
    assert run_models(cfg) == models


def test_a_run_without_provenance_records_unknown(tmp_path, tiny_inputs, capsys):
    out = tmp_path / "run"
    run(_cfg(tiny_inputs, "induction.n_samples=0"), out)  # no model: nothing to check, an empty record
    assert "warning: model" not in capsys.readouterr().err
    with RunStore(out) as store:
        assert recorded(store) == [] and store.get_meta("contamination") == []
