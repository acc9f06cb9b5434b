"""De-duplicate extracted programs by a normalised form, keeping multiplicity as weight.

Normal form: the AST with docstrings and other bare string statements removed, unparsed by
`ast.unparse` (so comments, blank lines, quotes style and spacing vanish). Two responses whose code
differs only in those respects are one `Program`, executed once, with weight = how many samples
produced it. A program id is a short hash of the normal form; the source that is executed is the
first-seen extracted code (same behaviour, and error line numbers that match what the model wrote).
Each distinct code string is parsed once per call (samples repeat verbatim far more often than
they differ only in form), which is what keeps de-duplicating a 10,000-sample import cheap.
"""
from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_BODY_FIELDS = ("body", "orelse", "finalbody")


def _is_string_statement(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove every bare string statement (docstrings included) in place; keep bodies non-empty."""
    for node in ast.walk(tree):
        for name in _BODY_FIELDS:
            body = getattr(node, name, None)
            if not isinstance(body, list) or not body or not isinstance(body[0], ast.stmt):
                continue
            kept = [s for s in body if not _is_string_statement(s)]
            if len(kept) != len(body):
                setattr(node, name, kept or [ast.Pass()])
    return tree


def normalise(code: str) -> str:
    """The normal form of `code` (which must parse: extraction guarantees it)."""
    tree = ast.parse(code)
    try:
        return ast.unparse(strip_docstrings(tree))
    except RecursionError:  # absurdly deep expression: fall back to whitespace-stripped lines
        return "\n".join(line.rstrip() for line in code.strip().splitlines() if line.strip())


def program_id(normal_form: str) -> str:
    return hashlib.sha256(normal_form.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Program:
    """One distinct program.

    multiplicity: number of samples whose code normalises to it (its vote weight).
    sample_keys:  keys of those samples in the sample log (see `induction.samples.SampleRecord.key`).
    first_seen:   position of its first occurrence in sampling order (stable tie-breaks).
    round:        refinement round that first produced it (0 = initial sampling or import).
    """

    id: str
    source: str
    normal_form: str
    multiplicity: int
    sample_keys: tuple[str, ...]
    first_seen: int
    round: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "source": self.source, "normal_form": self.normal_form,
            "multiplicity": self.multiplicity, "sample_keys": list(self.sample_keys),
            "first_seen": self.first_seen, "round": self.round,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Program:
        return cls(d["id"], d["source"], d["normal_form"], int(d["multiplicity"]),
                   tuple(d["sample_keys"]), int(d["first_seen"]), int(d.get("round", 0)))


@dataclass(frozen=True, slots=True)
class ExtractedCode:
    """One sample's extracted code, the input of `dedupe`."""

    sample_key: str
    code: str
    round: int = 0


def dedupe(items: Iterable[ExtractedCode], known: Mapping[str, str] | None = None) -> list[Program]:
    """Group by normal form; programs come back in order of first occurrence. `known`: normal forms
    already computed (code -> normal form, see `induction.prepare`)."""
    groups: dict[str, dict[str, Any]] = {}
    known = known or {}
    normal_of: dict[str, str] = {}  # code repeats verbatim: parse each distinct string once
    for position, item in enumerate(items):
        normal = known.get(item.code) or normal_of.get(item.code)
        if normal is None:
            normal = normal_of[item.code] = normalise(item.code)
        pid = program_id(normal)
        group = groups.get(pid)
        if group is None:
            groups[pid] = {"source": item.code, "normal": normal, "keys": [item.sample_key],
                           "first": position, "round": item.round}
        else:
            group["keys"].append(item.sample_key)
            group["round"] = min(group["round"], item.round)
    return [
        Program(pid, g["source"], g["normal"], len(g["keys"]), tuple(g["keys"]), g["first"], g["round"])
        for pid, g in groups.items()
    ]
