"""Induction's `SampleLog` protocol on the run store's SQLite database.

Every raw response is committed as soon as `append` returns (one transaction per batch), outside
any stage transaction: after a crash or `kill -9` mid-induction, the redone stage finds the samples
already drawn and asks the model only for the missing indices. Records are induction's
`SampleRecord` serialised with its own `to_dict` / `from_dict`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ensemble.store import RunStore


class SqliteSampleLog:
    """A `induction.samples.SampleLog` backed by the `sample_log` table of a RunStore."""

    def __init__(self, store: RunStore) -> None:
        self.store = store

    @staticmethod
    def _record(text: str) -> Any:
        from induction.samples import SampleRecord

        return SampleRecord.from_dict(json.loads(text))

    def existing(self, task_id: str, prompt_hash: str, settings_hash: str) -> dict[int, Any]:
        rows = self.store.db.execute(
            "SELECT idx, json FROM sample_log WHERE task_id = ? AND prompt_hash = ? AND settings_hash = ?",
            (task_id, prompt_hash, settings_hash))
        return {int(r[0]): self._record(r[1]) for r in rows}

    def append(self, records: Sequence[Any]) -> None:
        with self.store.transaction() as db:
            for r in records:
                exists = db.execute("SELECT 1 FROM sample_log WHERE key = ?", (r.key,)).fetchone()
                if exists:
                    raise ValueError(f"sample {r.key} is already in the log")
                # ASCII JSON: a lone surrogate in a text (legal in JSON, not in UTF-8) stays escaped.
                db.execute(
                    "INSERT INTO sample_log (key, task_id, prompt_hash, settings_hash, idx, json) VALUES (?, ?, ?, ?, ?, ?)",
                    (r.key, r.task_id, r.prompt_hash, r.settings_hash, r.index, json.dumps(r.to_dict())))

    def task_records(self, task_id: str) -> list[Any]:
        rows = self.store.db.execute("SELECT json FROM sample_log WHERE task_id = ? ORDER BY seq", (task_id,))
        return [self._record(r[0]) for r in rows]

    def __len__(self) -> int:
        return int(self.store.db.execute("SELECT COUNT(*) FROM sample_log").fetchone()[0])
