"""The two solver stages as the runner calls them: load what a stage needs once, run it on one
task, and turn the solver's typed result into a `StageOutput` for the store.

`Solvers` holds the heavy resources and loads each lazily on the first task that needs it (a
resumed run whose stages are all finished loads no model): the LM backend and the sandbox for
induction, the base model for transduction. `release(stage)` frees them before the next stage.

Adapters between the solvers' results and the store live here, so the store stays
schema-stable while the solvers evolve: `induction_output` and `transduction_output`. They check
the result against the task (candidate task ids and test indices) and raise `InvalidResultError`
otherwise, which the runner records as the failure reason `invalid-result`.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arc_core.candidates import Candidate, Source
from arc_core.task import Task

from ensemble.config import RunConfig
from ensemble.store import RunStore, StageOutput

SKIP_PREFIX = "skipped"


class InvalidResultError(ValueError):
    """A solver returned a result that does not fit its contract for this task."""


def check_candidates(task: Task, cands: Mapping[int, Sequence[Candidate]], source: Source) -> None:
    for i, cs in cands.items():
        if not 0 <= int(i) < task.n_test:
            raise InvalidResultError(f"task {task.id}: {source.value} candidates for test index {i}, "
                                     f"the task has {task.n_test} test input(s)")
        for c in cs:
            if c.task_id != task.id or c.test_index != int(i) or c.source is not source:
                raise InvalidResultError(f"task {task.id}: {source.value} candidate list {i} holds a candidate "
                                         f"for task {c.task_id} test {c.test_index} from {c.source.value}")


def program_status(verification: Any) -> str:
    """verified (exact on every demonstration), error (some demonstration did not run cleanly),
    or failed (ran, but some output is wrong)."""
    if verification.verified:
        return "verified"
    if any(p.status != "ok" for p in verification.train) or not verification.train:
        return "error"
    return "failed"


def induction_output(task: Task, result: Any) -> StageOutput:
    """`induction.pipeline.InductionResult` -> StageOutput."""
    if result.task_id != task.id:
        raise InvalidResultError(f"induction result for task {result.task_id}, expected {task.id}")
    check_candidates(task, result.candidates, Source.INDUCTION)
    verified = not result.near_miss  # near-miss candidates come from unverified programs
    cands = [(c, verified) for i in sorted(result.candidates) for c in result.candidates[i]]
    checks = {v.program_id: v for v in result.verifications}
    programs = []
    for p in result.programs:
        v = checks.get(p.id)
        programs.append({
            "program_id": p.id, "multiplicity": p.multiplicity, "source": p.source, "round": p.round,
            "status": program_status(v) if v is not None else "error",
            "pairs": [c.to_dict() for c in v.train] if v is not None else [],
            "tests": [t.to_dict() for t in v.test] if v is not None else [],
        })
    return StageOutput(candidates=cands, programs=programs, result=result.to_dict())


def transduction_output(task: Task, result: Any) -> StageOutput:
    """`transduction.pipeline.TransductionResult` -> StageOutput."""
    d = result.to_dict()
    if d.get("task_id", task.id) != task.id:
        raise InvalidResultError(f"transduction result for task {d.get('task_id')}, expected {task.id}")
    check_candidates(task, result.candidates, Source.TRANSDUCTION)
    cands = [(c, False) for i in sorted(result.candidates) for c in result.candidates[i]]
    ttt = None
    if d.get("train") is not None:
        tr = d["train"]
        ttt = {"examples": tr["n_examples"], "tokens": tr["n_tokens"], "seconds": tr["seconds"],
               "loss_curve": list(tr["losses"]), "steps": tr["n_steps"], "loss_tokens": tr["n_loss_tokens"],
               "reused_adapter": tr.get("reused", False), "data": d.get("data", {})}
    votes = {int(t["test_index"]): t for t in d.get("vote_tables", [])}
    return StageOutput(candidates=cands, ttt=ttt, votes=votes, result=d)


def all_tests_verified(store: RunStore, task: Task) -> bool:
    have = {c.test_index for c, verified in store.candidates(task.id, Source.INDUCTION) if verified}
    return have == set(range(task.n_test))


def ttt_skip(cfg: RunConfig, store: RunStore, task: Task) -> StageOutput | None:
    """The skipped transduction stage of a task, when `skip_ttt_when_verified` applies to it."""
    if cfg.ensemble.skip_ttt_when_verified and cfg.ensemble.induction and all_tests_verified(store, task):
        return StageOutput(note=f"{SKIP_PREFIX}: every test input has a verified-program answer")
    return None


class Solvers:
    """Lazily loaded solver resources and one method per solver stage (`induction`, `transduction`).

    `store` is None on a remote worker (`ensemble.ray_exec`): it then gets the sample log with each
    induction call, writes adapters under `workdir`, and the driver decides TTT skips (`ttt_skip`).
    `remote_models`: the models that sample (induction) or serve adapters (transduction) live in
    other actors: induction loads only its sandbox and gets a backend with each call; transduction
    loads only the training model (`transduction_train`).
    """

    def __init__(self, cfg: RunConfig, store: RunStore | None, programs_file: Path | None = None,
                 workdir: Path | None = None, remote_models: bool = False) -> None:
        assert store is not None or workdir is not None, "a worker without a store needs a workdir"
        self.cfg, self.store, self.remote_models = cfg, store, remote_models
        self.workdir = workdir if workdir is not None else store.run_dir / "transduction"
        self._backend: Any = None
        self._sandbox: Any = None
        self._model: Any = None
        self.load_seconds: dict[str, float] = {}  # stage -> seconds spent loading its resources
        self._imported: dict[str, list[str]] = {}
        self._prepared: Any = None  # induction.prepare.Prepared of the imported texts
        self._import_hash = ""
        if programs_file is not None:
            if not cfg.ensemble.induction:
                raise ValueError("--programs imports induction samples, but induction is switched off")
            from induction.samples import read_program_file

            loaded = read_program_file(programs_file)
            self._import_hash, self._imported = loaded.file_hash, loaded.texts
            store.set_meta("import_rejected_lines", [list(r) for r in loaded.rejected])

    def __enter__(self) -> Solvers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release("induction")
        self.release("transduction")

    def release(self, stage: str) -> None:
        if stage == "induction":
            if self._sandbox is not None:
                self._sandbox.__exit__(None, None, None)
            if self._backend is not None:
                self._backend.close()  # a vLLM engine's processes stop now, not at garbage collection
            self._backend = self._sandbox = None
        elif stage == "transduction":
            if self._model is not None and self._model.served:
                self._model.backend.close()  # a vLLM engine serving the adapters
            self._model = None
        gc.collect()

    def prepare(self, stage: str) -> None:
        """Load a stage's resources now (so per-task stage times exclude model loading). TTT's
        model stays lazy when skipping TTT is on: every task might skip it."""
        t0 = time.perf_counter()
        if stage == "induction":
            self._induction_resources()
        elif stage == "transduction" and not self.cfg.ensemble.skip_ttt_when_verified:
            self._transduction_model()
        self.load_seconds[stage] = self.load_seconds.get(stage, 0.0) + time.perf_counter() - t0

    # ---- induction ------------------------------------------------------------------------------

    def _induction_resources(self) -> tuple[Any, Any]:
        if self._imported and self._prepared is None:
            # Here, not when the file is read: only a solver that runs induction itself pays for it (a
            # Ray driver ships the texts to its actors), and before any model or sandbox exists, so the
            # extraction workers fork from a lean process.
            from induction.prepare import prepare

            self._prepared = prepare((t for ts in self._imported.values() for t in ts),
                                     self.cfg.induction.max_response_chars, self.cfg.induction.workers)
        if self._sandbox is None:
            import dataclasses

            from sandbox import Sandbox

            sb_cfg = self.cfg.sandbox
            prelude = self.cfg.induction.prelude_path
            if prelude and not sb_cfg.prelude_path:
                sb_cfg = dataclasses.replace(sb_cfg, prelude_path=prelude)
            self._sandbox = Sandbox(sb_cfg).__enter__()
        if self._backend is None and self.cfg.induction.n_samples > 0 and not self.remote_models:
            from arc_lm import load_backend

            self._backend = load_backend(self.cfg.lm)
        return self._backend, self._sandbox

    def imported(self, task_id: str) -> tuple[str, tuple[str, ...]]:
        """(import file hash, this task's imported texts) from `--programs`."""
        return self._import_hash, tuple(self._imported.get(task_id, ()))

    def induction(self, task: Task, log: Any = None, imported: tuple[str, tuple[str, ...]] | None = None,
                  backend: Any = None) -> StageOutput:
        """`log`: the sample log (default: the store's); `imported`: as `imported()` (default: ours);
        `backend`: what to sample with (default: the `lm` backend loaded here)."""
        from induction.pipeline import induce_task

        from ensemble.sample_log import SqliteSampleLog

        loaded, sandbox = self._induction_resources()
        backend = backend if backend is not None else loaded
        if self.cfg.induction.n_samples > 0 and backend is None:
            raise ValueError("induction samples a model, but this worker has no backend to sample with")
        import_hash, texts = imported if imported is not None else self.imported(task.id)
        result = induce_task(task, backend, sandbox, self.cfg.induction,
                             log if log is not None else SqliteSampleLog(self.store),
                             imported=texts, import_hash=import_hash, prepared=self._prepared)
        return induction_output(task, result)

    # ---- transduction ---------------------------------------------------------------------------

    def transduction(self, task: Task) -> StageOutput:
        skipped = ttt_skip(self.cfg, self.store, task) if self.store is not None else None
        if skipped is not None:
            return skipped
        from transduction.pipeline import transduce_task

        assert not self.remote_models, "adapters are served elsewhere: call transduction_train"
        result = transduce_task(task, self._transduction_model(), self.cfg.transduction, self.workdir)
        return transduction_output(task, result)

    def transduction_train(self, task: Task) -> Any:
        """TTT, query plan and DFS of a task (`transduction.pipeline.TrainedTask`), its adapter saved for
        an inference actor to serve (`transduction.pipeline.finish_tasks`)."""
        from transduction.pipeline import train_task

        return train_task(task, self._transduction_model(), self.cfg.transduction, self.workdir, serve=True)

    def _transduction_model(self) -> Any:
        if self._model is None:
            from transduction.pipeline import TransductionModel

            lm = None if self.remote_models else self.cfg.lm  # None: the training model only
            self._model = TransductionModel.load(self.cfg.transduction, device=self.cfg.lm.device, lm=lm)
        return self._model
