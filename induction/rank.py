"""Turn verified programs' test outputs into ranked candidates (a weighted plurality vote).

For each test input, every verified program that produced a valid grid votes for it with its
multiplicity; grids are ranked by total weight, then by how early their first producer was sampled
(a stable, seed-independent tie-break). Outputs identical to the test input are dropped by default
(`discard_identity`, as in Greenblatt's system: a copy of the input is almost never the answer).

When no program is verified and `near_miss` is on, unverified programs vote instead, ranked by
their mean demonstration cell accuracy (candidate `score` = that accuracy; verified candidates have
`score=None`), then by weight. Programs below `near_miss_min_accuracy` do not vote.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from arc_core.candidates import Candidate, Source
from arc_core.grid import Grid
from arc_core.task import Task
from induction.config import InductionConfig
from induction.dedupe import Program
from induction.verify import Verification

OK = "ok"  # sandbox.ExecStatus.OK.value (rank needs no sandbox import)


@dataclass
class _Tally:
    weight: int = 0
    first_seen: int = 1 << 62
    score: float = 0.0
    producers: list[tuple[int, int, str]] = field(default_factory=list)  # (-weight, first_seen, id)


def _voters(verifications: Sequence[Verification], config: InductionConfig) -> tuple[list[Verification], bool]:
    """(voting verifications, whether they are near misses)."""
    verified = [v for v in verifications if v.verified]
    if verified or not config.near_miss:
        return verified, False
    near = [v for v in verifications if v.mean_accuracy >= config.near_miss_min_accuracy and v.mean_accuracy > 0]
    return near, True


def rank_candidates(
    task: Task,
    programs: Sequence[Program],
    verifications: Sequence[Verification],
    config: InductionConfig,
) -> tuple[dict[int, list[Candidate]], bool]:
    """Ranked candidates per test index (every index present, maybe empty), and near-miss flag."""
    by_id = {p.id: p for p in programs}
    voters, near_miss = _voters(verifications, config)
    out: dict[int, list[Candidate]] = {}
    for index, test_input in enumerate(task.test_inputs):
        tallies: dict[Grid, _Tally] = {}
        for v in voters:
            run = v.test[index]
            if run.status != OK or run.output is None:
                continue
            if config.discard_identity and run.output == test_input:
                continue
            program = by_id[v.program_id]
            tally = tallies.setdefault(run.output, _Tally())
            tally.weight += program.multiplicity
            tally.first_seen = min(tally.first_seen, program.first_seen)
            tally.score = max(tally.score, v.mean_accuracy)
            tally.producers.append((-program.multiplicity, program.first_seen, program.id))
        if near_miss:
            order = sorted(tallies.items(), key=lambda kv: (-kv[1].score, -kv[1].weight, kv[1].first_seen))
        else:
            order = sorted(tallies.items(), key=lambda kv: (-kv[1].weight, kv[1].first_seen))
        out[index] = [
            Candidate(
                task_id=task.id, test_index=index, grid=grid, source=Source.INDUCTION, rank=r,
                weight=float(t.weight), score=t.score if near_miss else None,
                provenance=tuple(pid for _, _, pid in sorted(t.producers)),
            )
            for r, (grid, t) in enumerate(order[: config.max_candidates])
        ]
    return out, near_miss
