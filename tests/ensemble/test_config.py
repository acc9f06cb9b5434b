"""Run configuration: every preset builds, the cpu-demo task set is small, precedence of
preset < file < --set < CLI flags, and the seeds/versions written into RUN_DIR."""
from __future__ import annotations

import pytest

from arc_core.datasets import load_dataset
from ensemble.config import CPU_DEMO_TASKS, PRESETS, RunConfig, build_run_config, seeds, versions


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds(name):
    cfg = build_run_config(name)
    assert isinstance(cfg, RunConfig)


def test_cpu_demo_is_small_training_tasks():
    cfg = build_run_config("cpu-demo")
    assert cfg.dataset == "arc1/training" and cfg.tasks == CPU_DEMO_TASKS
    ds = load_dataset("arc1/training")
    for tid in cfg.tasks:
        grids = list(ds.tasks[tid].all_grids()) + list(ds.solutions[tid])
        assert max(max(g.shape) for g in grids) <= 6, tid
    assert cfg.lm.device == "cpu" and cfg.transduction.model == "smollm2-135m"
    assert cfg.ensemble.policy == "prefer-programs" and not cfg.ensemble.skip_ttt_when_verified


def test_precedence(tmp_path):
    f = tmp_path / "run.toml"
    f.write_text('seed = 3\n[induction]\nn_samples = 7\ntemperature = 0.5\n[ensemble]\npolicy = "barc"\n')
    cfg = build_run_config("cpu-demo", f, ["induction.n_samples=9"], dataset="arc1/evaluation", tasks=())
    assert (cfg.seed, cfg.induction.n_samples, cfg.induction.temperature) == (3, 9, 0.5)
    assert cfg.ensemble.policy == "barc" and cfg.dataset == "arc1/evaluation" and cfg.tasks == ()
    assert seeds(cfg)["seed"] == 3 and "transduction.train.seed" in seeds(cfg)
    assert "python" in versions() and "torch" in versions()


@pytest.mark.parametrize("overrides,match", [
    (["ensemble.induction=false", "ensemble.transduction=false"], "both off"),
    (["limit=0"], "limit"),
    (["ensemble.polcy=barc"], "did you mean 'policy'"),
])
def test_bad_configs(overrides, match):
    with pytest.raises(ValueError, match=match):
        build_run_config("cpu-small", None, overrides)
