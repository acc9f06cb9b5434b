"""Contamination of a benchmark run: which evaluated tasks the run's models were trained on.

`check_run(cfg, task_ids)` asks `transduction.provenance.contamination` about every model the run
uses, without loading weights: the transduction model (`transduction.model`) when that side is on,
and the induction model (`lm.model`) when induction samples programs (`induction.n_samples > 0`;
programs imported with `--programs` come from elsewhere and their model is unknown to this run). A
model used by both sides is checked once. `record(store, reports, log)` logs each warning and keeps every report,
warning or not, in the run's meta (`contamination`, a list of `ContaminationReport.to_dict()`), so
`report` can show the warnings and the run directory says which provenance was read (None:
unknown, which is no clean bill). A resumed run checks again (a model directory may have changed).
"""
from __future__ import annotations

from collections.abc import Callable

from transduction.provenance import ContaminationReport, contamination

from ensemble.config import RunConfig
from ensemble.store import RunStore

META_KEY = "contamination"


def run_models(cfg: RunConfig) -> list[str]:
    """The models (names or paths) the run's enabled sides use, each once: transduction's first."""
    models = [cfg.transduction.model] if cfg.ensemble.transduction else []
    if cfg.ensemble.induction and cfg.induction.n_samples > 0:
        models.append(cfg.lm.model)
    return list(dict.fromkeys(models))


def check_run(cfg: RunConfig, task_ids: list[str]) -> list[ContaminationReport]:
    """One contamination report per model the run uses (see the module docstring)."""
    return [contamination(model, task_ids) for model in run_models(cfg)]


def record(store: RunStore, reports: list[ContaminationReport], log: Callable[[str], None]) -> None:
    """Log every warning and keep all reports in the run's meta."""
    for report in reports:
        if report.warning():
            log(report.warning())
    store.set_meta(META_KEY, [r.to_dict() for r in reports])


def recorded(store: RunStore) -> list[ContaminationReport]:
    """The reports `record` kept (none: [])."""
    return [ContaminationReport.from_dict(d) for d in store.get_meta(META_KEY, [])]
