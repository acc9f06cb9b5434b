"""Program induction: sample Python programs from an LLM, verify them in the sandbox, rank outputs.

Stages (one module each): `prompts` (formats registry), `sample` + `samples` (sampling through a
sample log; import of existing samples), `extract`, `dedupe`, `verify`, `rank`, `refine`;
`pipeline.induce_task` runs them for one task, `run.induce_dataset` for a dataset into a run
directory, `commands` holds `arc-hybrid induce` and `arc-hybrid verify`.
"""
from induction.config import InductionConfig
from induction.pipeline import InductionResult, SampleOutcome, induce_task
from induction.samples import JsonlSampleLog, MemorySampleLog, SampleLog, SampleRecord

__all__ = [
    "InductionConfig", "InductionResult", "SampleOutcome", "induce_task",
    "JsonlSampleLog", "MemorySampleLog", "SampleLog", "SampleRecord",
]
