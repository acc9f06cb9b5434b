"""The solver stages as the runner calls them: load what a phase needs once, run a stage on one
task, and turn the solver's typed result into a `StageOutput` for the store.

`Solvers` holds the heavy resources and loads each lazily on the first task that needs it (a
resumed run whose stages are all finished loads no model): the LM backend and the sandbox for
`induction`; the training model for `train`; the inference engine for `infer` (on `hf`, the
training model itself; on vLLM, an engine of its own). `release(phase)` frees them before the next
phase (`ensemble.graph`).

Adapters between the solvers' results and the store live here, so the store stays schema-stable
while the solvers evolve: `induction_output`, `train_output`, `infer_output`. They check the result
against the task (candidate task ids and test indices) and raise `InvalidResultError` otherwise,
which the runner records as the failure reason `invalid-result`. A `train` result names its adapter
by a path relative to RUN_DIR (`ADAPTERS`), wherever it was trained.
"""
from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arc_core.candidates import Candidate, Source
from arc_core.task import Task

from ensemble.config import RunConfig
from ensemble.store import RunStore, StageOutput


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


ADAPTERS = Path("transduction")  # adapter_dir(RUN_DIR / ADAPTERS, task id): where a run keeps adapters


def _ttt_stats(train: dict | None, data: dict) -> dict | None:
    if train is None:
        return None
    return {"examples": train["n_examples"], "tokens": train["n_tokens"], "seconds": train["seconds"],
            "loss_curve": list(train["losses"]), "steps": train["n_steps"], "loss_tokens": train["n_loss_tokens"],
            "reused_adapter": train.get("reused", False), "data": data}


def train_output(task: Task, trained: Any, workdir: Path) -> StageOutput:
    """`transduction.pipeline.TrainedTask` -> StageOutput; its adapter, saved under `workdir`, is
    recorded relative to RUN_DIR (under `ADAPTERS`), so it reads the same wherever it was trained."""
    if trained.task_id != task.id:
        raise InvalidResultError(f"train result for task {trained.task_id}, expected {task.id}")
    d = trained.to_dict()
    if trained.adapter is not None:
        d["adapter"] = str(ADAPTERS / Path(trained.adapter).resolve().relative_to(Path(workdir).resolve()))
    return StageOutput(ttt=_ttt_stats(d["train"], d["data"]), result=d)


def trained_task(result: dict, run_dir: Path) -> Any:
    """The `TrainedTask` a stored `train` result describes, its adapter resolved under `run_dir`."""
    from transduction.pipeline import TrainedTask

    trained = TrainedTask.from_dict(result)
    if trained.adapter is None:
        return trained
    return dataclasses.replace(trained, adapter=str(Path(run_dir) / trained.adapter))


def infer_output(task: Task, result: Any) -> StageOutput:
    """`transduction.pipeline.TransductionResult` -> StageOutput (candidates, vote tables, the result)."""
    d = result.to_dict()
    if d.get("task_id", task.id) != task.id:
        raise InvalidResultError(f"transduction result for task {d.get('task_id')}, expected {task.id}")
    check_candidates(task, result.candidates, Source.TRANSDUCTION)
    cands = [(c, False) for i in sorted(result.candidates) for c in result.candidates[i]]
    votes = {int(t["test_index"]): t for t in d.get("vote_tables", [])}
    return StageOutput(candidates=cands, votes=votes, result=d)


def transduction_train_output(result: Any) -> StageOutput:
    """The `train` stage of a whole `TransductionResult` (a `transduce` directory read as a run)."""
    d = result.to_dict()
    return StageOutput(ttt=_ttt_stats(d["train"], d["data"]), result={"task_id": d["task_id"], "data": d["data"],
                                                                       "train": d["train"]})


def _record_limits(out: StageOutput, config: Any, limits: Any, stopped: str | None) -> None:
    """What a time budget cut from this stage, in its stored result ("budget")."""
    if limits is None and stopped is None:
        return
    from transduction.limits import describe

    cut = describe(config, limits) + ([stopped] if stopped else [])
    out.result = {**(out.result or {}), "budget": {"limits": limits.to_dict() if limits else None, "cut": cut}}


def searches_at_inference(cfg: RunConfig) -> bool:
    """Whether the `infer` stage's backend can run DFS (hf); otherwise DFS runs in `train`."""
    from transduction.serving import inference_lm

    return inference_lm(cfg.lm, cfg.transduction).backend == "hf"


class Solvers:
    """Lazily loaded solver resources and one method per solver stage (`induction`, `train`, `infer`).

    `store` is None on a remote worker (a Ray actor): it then gets the sample log with each induction
    call and trains adapters under `workdir`. `remote_models`: the models that sample (induction) or
    serve adapters (inference) live in other actors: induction loads only its sandbox and gets a
    backend with each call; `train` loads only the training model, `infer` only the engine.
    """

    def __init__(self, cfg: RunConfig, store: RunStore | None, programs_file: Path | None = None,
                 workdir: Path | None = None, remote_models: bool = False) -> None:
        assert store is not None or workdir is not None, "a worker without a store needs a workdir"
        self.cfg, self.store, self.remote_models = cfg, store, remote_models
        self.workdir = workdir if workdir is not None else store.run_dir / ADAPTERS
        self._backend: Any = None
        self._sandbox: Any = None
        self._model: Any = None
        self._engine: Any = None
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
            if store is not None:
                store.set_meta("import_rejected_lines", [list(r) for r in loaded.rejected])

    def __enter__(self) -> Solvers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release("induction")
        self.release("transduction")

    def release(self, phase: str) -> None:
        """Free a phase's resources: "induction" (sandbox, LM) or "transduction" (model, engine)."""
        if phase == "induction":
            if self._sandbox is not None:
                self._sandbox.__exit__(None, None, None)
            if self._backend is not None:
                self._backend.close()  # a vLLM engine's processes stop now, not at garbage collection
            self._backend = self._sandbox = None
        elif phase == "transduction":
            if self._engine is not None:
                self._engine.close()
            self._model = self._engine = None
        gc.collect()

    def prepare(self, stage: str) -> None:
        """Load a stage's resources now (so per-task stage times exclude model loading)."""
        t0 = time.perf_counter()
        if stage == "induction":
            self._induction_resources()
        elif stage == "train":
            self._transduction_model()
        elif stage == "infer":
            self._inference_engine()
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

    def train(self, task: Task, limits: Any = None) -> StageOutput:
        """TTT of a task, its adapter saved under `workdir` (`transduction.pipeline.train_task`), scaled
        down by `limits` (transduction.limits.TaskLimits) under a time budget."""
        from transduction.pipeline import train_task

        dfs = not searches_at_inference(self.cfg)
        trained = train_task(task, self._transduction_model(), self.cfg.transduction, self.workdir, dfs=dfs,
                             limits=limits)
        out = train_output(task, trained, self.workdir)
        _record_limits(out, self.cfg.transduction, limits, trained.train.stopped if trained.train else None)
        return out

    def infer(self, task: Task, trained: Any, limits: Any = None) -> StageOutput:
        """Inference, DFS, scoring and candidates of a trained task (`trained`: its TrainedTask with
        the adapter directory resolved here), scaled down by `limits` under a time budget."""
        return self.infer_many([task], [trained], [limits])[0]

    def infer_many(self, tasks: Sequence[Task], trained: Sequence[Any],
                   limits: Sequence[Any] | None = None) -> list[StageOutput]:
        """`infer` of several tasks in one backend call each for generation and scoring."""
        from transduction.pipeline import infer_tasks

        limits = list(limits) if limits is not None else [None] * len(tasks)
        results = infer_tasks(tasks, trained, self._inference_engine(), self.cfg.transduction, limits)
        outs = [infer_output(t, r) for t, r in zip(tasks, results)]
        for out, lim, r in zip(outs, limits, results):
            _record_limits(out, self.cfg.transduction, lim, r.stopped)
        return outs

    def _transduction_model(self) -> Any:
        if self._model is None:
            from transduction.pipeline import TransductionModel

            self._model = TransductionModel.load(self.cfg.transduction, device=self.cfg.lm.device)
        return self._model

    def _inference_engine(self) -> Any:
        if self._engine is None:
            from transduction.pipeline import InferenceEngine, engine_for

            if self.remote_models or not searches_at_inference(self.cfg):
                self._engine = InferenceEngine.load(self.cfg.transduction, self.cfg.lm)
            else:
                self._engine = engine_for(self._transduction_model(), self.cfg.transduction, self.cfg.lm)
        return self._engine
