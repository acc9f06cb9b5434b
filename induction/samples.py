"""The sample log: every raw response, stored once, so nothing is ever resampled.

A `SampleRecord` holds one response with what produced it: task, prompt hash and format, backend,
model, sampling settings (and their hash), sample index, token counts, finish reason, refinement
round and parent program. Its key `task:prompt_hash:settings_hash:index` is unique: a rerun asks
the log which indices exist for (task, prompt, settings) and only draws the missing ones.

`SampleLog` is the protocol (the ensemble implements it on SQLite); `JsonlSampleLog` appends one
JSON object per line (a partial last line left by a crash is cut off on open) and
`MemorySampleLog` keeps records in memory. Imported samples (a JSONL file of
`{"task_id", "responses" | "code"}` records) become records too, with source "import"; a line of
that file that is not such a record is rejected on its own (`ProgramImport.rejected`).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class SampleRecord:
    """One raw model response (or one imported response/code string)."""

    task_id: str
    prompt_hash: str
    settings_hash: str
    index: int
    text: str
    backend: str
    model: str
    prompt_format: str
    settings: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    round: int = 0
    parent: str | None = None  # program id fed back in a refinement prompt
    source: str = "model"  # "model" | "import"
    created: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.task_id}:{self.prompt_hash}:{self.settings_hash}:{self.index}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleRecord:
        return cls(**d)


class SampleLog(Protocol):
    """Where samples live. Implementations must make `append` durable before returning."""

    def existing(self, task_id: str, prompt_hash: str, settings_hash: str) -> dict[int, SampleRecord]:
        """Records already stored for this (task, prompt, settings), by sample index."""
        ...

    def append(self, records: Sequence[SampleRecord]) -> None:
        """Store new records (keys not already present)."""
        ...

    def task_records(self, task_id: str) -> list[SampleRecord]:
        """Every record of a task, in insertion order."""
        ...


class MemorySampleLog:
    """A SampleLog in memory (tests, one-off runs)."""

    def __init__(self) -> None:
        self._records: dict[str, SampleRecord] = {}

    def existing(self, task_id: str, prompt_hash: str, settings_hash: str) -> dict[int, SampleRecord]:
        return {
            r.index: r for r in self._records.values()
            if (r.task_id, r.prompt_hash, r.settings_hash) == (task_id, prompt_hash, settings_hash)
        }

    def append(self, records: Sequence[SampleRecord]) -> None:
        for r in records:
            if r.key in self._records:
                raise ValueError(f"sample {r.key} is already in the log")
            self._records[r.key] = r

    def task_records(self, task_id: str) -> list[SampleRecord]:
        return [r for r in self._records.values() if r.task_id == task_id]

    def __len__(self) -> int:
        return len(self._records)


class JsonlSampleLog(MemorySampleLog):
    """A SampleLog backed by an append-only JSONL file (one record per line)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.dropped_partial_line = False
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            # A crash mid-write leaves a partial last line: cut it so the next append stays valid.
            cut = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(cut)
            data = data[:cut]
            self.dropped_partial_line = True
        for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = SampleRecord.from_dict(json.loads(line))
            except (json.JSONDecodeError, TypeError) as e:
                raise ValueError(f"{self.path}:{lineno}: not a sample record: {e}") from None
            self._records[record.key] = record

    def append(self, records: Sequence[SampleRecord]) -> None:
        super().append(records)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            # ASCII JSON: a lone surrogate in a text (legal in JSON, not in UTF-8) is stored escaped.
            f.write("".join(json.dumps(r.to_dict()) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())


# ---- import of existing samples -------------------------------------------------------------
IMPORT_PROMPT_HASH = "import"


@dataclass(frozen=True)
class ProgramImport:
    """A parsed `--programs` file.

    file_hash: short hash of the file's bytes (the import's settings hash in the sample log).
    texts:     {task_id: response/code texts in file order}.
    rejected:  (line number, reason) for every line that is not a usable record: bytes that are
               not UTF-8, invalid JSON, a wrong shape. Each is a per-line failure: the other lines
               are imported all the same. Texts themselves are not judged here (a lone surrogate,
               a NUL byte or a 10 MB source is the extraction's business, per sample).
    """

    file_hash: str
    texts: dict[str, list[str]]
    rejected: tuple[tuple[int, str], ...] = ()


def _record_texts(line: bytes) -> tuple[str, list[str]]:
    """(task_id, texts) of one JSONL line, or ValueError saying what is wrong with it."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 at byte {e.start}") from None
    except (json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"invalid JSON: {e}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("task_id"), str):
        raise ValueError("expected an object with a string 'task_id'")
    keys = [k for k in ("responses", "code") if k in obj]
    if len(keys) != 1:
        raise ValueError("expected exactly one of 'responses' or 'code'")
    value = obj[keys[0]]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise ValueError(f"'{keys[0]}' must be a string or a list of strings")
    return obj["task_id"], items


def read_program_file(path: str | Path) -> ProgramImport:
    """Parse a JSONL file of `{"task_id": ..., "responses": [...]} | {"task_id": ..., "code": ...}`.

    `code` may be one string or a list. A line that is not such a record is rejected (with its
    line number and reason) and the rest is imported; a missing file is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"program file not found: {path}")
    raw = path.read_bytes()
    texts: dict[str, list[str]] = {}
    rejected: list[tuple[int, str]] = []
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            task_id, items = _record_texts(line)
        except ValueError as e:
            rejected.append((lineno, str(e)))
            continue
        texts.setdefault(task_id, []).extend(items)
    return ProgramImport(hashlib.sha256(raw).hexdigest()[:16], texts, tuple(rejected))


def import_samples(task_id: str, texts: Sequence[str], file_hash: str, log: SampleLog) -> list[SampleRecord]:
    """Store imported texts as records (once per file content); return all of them for the task."""
    have = log.existing(task_id, IMPORT_PROMPT_HASH, file_hash)
    new = [
        SampleRecord(task_id, IMPORT_PROMPT_HASH, file_hash, i, text, backend="import", model="import",
                     prompt_format="import", source="import", created=time.time())
        for i, text in enumerate(texts) if i not in have
    ]
    if new:
        log.append(new)
    merged = {**have, **{r.index: r for r in new}}
    return [merged[i] for i in sorted(merged)]
