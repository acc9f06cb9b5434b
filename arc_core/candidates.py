"""The candidate answer type shared by induction, transduction and the ensemble.

A `Candidate` is one proposed output grid for one test input of one task, with where it came from.
Both solvers return ranked lists of these; the ensemble's policies pick two attempts from them.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass

from arc_core.grid import Grid


class Source(str, enum.Enum):
    INDUCTION = "induction"
    TRANSDUCTION = "transduction"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One proposed answer.

    weight:     induction: total multiplicity of the verified programs producing it;
                transduction: number of votes it received.
    score:      optional ranking score (transduction: the ranking's value, e.g. the augmentation
                log-prob sum or the nvarc value, else the log-prob sum when scored; induction: None).
    rank:       0-based rank within its source for this test input (0 = best).
    provenance: program ids (induction) or sources (transduction: "greedy:<transform>[x<n>]",
                "dfs:<view>") that produced it.
    """

    task_id: str
    test_index: int
    grid: Grid
    source: Source
    rank: int
    weight: float = 1.0
    score: float | None = None
    provenance: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-serialisable form (grids as lists of lists)."""
        return {"task_id": self.task_id, "test_index": self.test_index, "grid": self.grid.to_list(),
                "source": self.source.value, "rank": self.rank, "weight": self.weight, "score": self.score,
                "provenance": list(self.provenance)}

    @classmethod
    def from_dict(cls, d: dict) -> Candidate:
        """Inverse of `to_dict`; the grid is validated again."""
        return cls(d["task_id"], int(d["test_index"]), Grid.parse(d["grid"], "stored candidate"),
                   Source(d["source"]), int(d["rank"]), float(d["weight"]), d.get("score"),
                   tuple(d.get("provenance", ())))
