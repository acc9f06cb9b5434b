"""Transduction: test-time training (per-task LoRA) + augmented inference + hierarchical voting.

Modules (one concept each): `config` (TransductionConfig, presets), `formats` (prompt formats
registry), `masks` (loss masks from character spans), `data` (TTT pseudo-tasks), `train` (adapters),
`predict` (augmented inference), `voting` (hierarchical vote), `augscore` (product-of-experts
scoring and rankings), `pipeline` (stages and `transduce_task`), `run` (a dataset into a run
directory), `finetune` (fine-tuning before TTT), `commands` (`transduce`, `finetune`).
Heavy dependencies (torch, transformers, peft) are imported where used.
"""
from transduction.config import PRESETS, TransductionConfig, preset
from transduction.formats import FORMATS, get_format
from transduction.pipeline import TransductionModel, TransductionResult, transduce_task

__all__ = ["PRESETS", "TransductionConfig", "preset", "FORMATS", "get_format", "TransductionModel",
           "TransductionResult", "transduce_task"]
