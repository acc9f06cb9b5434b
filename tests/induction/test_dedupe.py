"""De-duplication by normalised AST, multiplicity as weight."""
from __future__ import annotations

from induction.dedupe import ExtractedCode, dedupe, normalise, program_id

A1 = 'def transform(grid):\n    """Flip it."""\n    # comment\n    return grid[::-1]\n'
A2 = "def transform(grid):\n\n    return grid[ : : -1]   # other comment\n"
A3 = "def transform(grid):\n  '''doc'''\n  return (grid[::-1])\n"
B = "def transform(grid):\n    return grid.T\n"
ONLY_DOC = 'def transform(grid):\n    """only a docstring"""\n'


def test_formatting_comments_docstrings_do_not_matter():
    assert normalise(A1) == normalise(A2) == normalise(A3)
    assert normalise(A1) != normalise(B)


def test_docstring_only_body_stays_valid():
    assert "pass" in normalise(ONLY_DOC)


def test_multiplicity_order_and_ids():
    items = [ExtractedCode("s0", B), ExtractedCode("s1", A1), ExtractedCode("s2", A2),
             ExtractedCode("s3", B), ExtractedCode("s4", A3, round=1)]
    progs = dedupe(items)
    assert [p.multiplicity for p in progs] == [2, 3]
    assert progs[0].sample_keys == ("s0", "s3") and progs[1].sample_keys == ("s1", "s2", "s4")
    assert progs[1].source == A1  # first-seen text is what runs
    assert progs[1].round == 0 and progs[0].first_seen == 0 and progs[1].first_seen == 1
    assert progs[0].id == program_id(normalise(B)) and len(progs[0].id) == 12


def test_round_is_min_of_occurrences():
    progs = dedupe([ExtractedCode("r", B, round=2), ExtractedCode("s", B, round=1)])
    assert progs[0].round == 1


def test_program_round_trip():
    (p,) = dedupe([ExtractedCode("s0", A1)])
    assert type(p).from_dict(p.to_dict()) == p
