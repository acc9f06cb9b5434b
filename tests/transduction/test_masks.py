"""Loss masks from character spans: labelled tokens cover exactly the output spans."""
from __future__ import annotations

import pytest

from arc_core.task import Pair
from transduction.formats import FORMATS, PseudoTask, get_format
from transduction.masks import IGNORE, count_tokens, tokenize, tokenize_example


def _pt(grid):
    demos = (Pair(grid("120", "034"), grid("021", "430")), Pair(grid("5"), grid("5")),
             Pair(grid("67", "89"), grid("76", "98")))
    return PseudoTask(demos, grid("11", "22"), grid("11", "22"))


def _covered(encoded, tokenizer, fmt, example):
    """Character positions covered by labelled tokens (the appended EOS has no characters)."""
    _, offsets = tokenize(encoded.text, tokenizer, fmt)
    assert len(example.labels) >= len(offsets)
    chars = set()
    for (s, e), label in zip(offsets, example.labels):
        if label != IGNORE:
            chars.update(range(s, e))
    return chars


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("loss_on", ["outputs", "query"])
def test_labels_cover_the_spans(name, loss_on, grid, embedded_tokenizer):
    fmt = get_format(name)
    enc = fmt.encode(_pt(grid), embedded_tokenizer)
    ex = tokenize_example(enc, embedded_tokenizer, fmt, loss_on)
    want = set()
    for s, e in enc.loss_spans(loss_on):
        want.update(range(s, e))
    covered = _covered(enc, embedded_tokenizer, fmt, ex)
    assert want <= covered
    # a token straddling a span edge (" [[" after "->") is labelled; only such whitespace lies outside
    assert all(enc.text[i].isspace() for i in covered - want), sorted(covered - want)
    # labels are the input ids themselves where set
    assert all(lab in (IGNORE, tid) for tid, lab in zip(ex.input_ids, ex.labels))


def test_default_loss_skips_first_demo_output(grid, embedded_tokenizer):
    fmt = get_format("compact")
    enc = fmt.encode(_pt(grid), embedded_tokenizer)
    spans = enc.loss_spans("outputs")
    assert enc.demo_output_spans[0] not in spans and enc.demo_output_spans[1] in spans
    assert enc.loss_spans("query") == (enc.query_output_span,)


def test_compact_appends_labelled_eos(grid, embedded_tokenizer):
    fmt = get_format("compact")
    enc = fmt.encode(_pt(grid), embedded_tokenizer)
    ex = tokenize_example(enc, embedded_tokenizer, fmt)
    assert ex.input_ids[-1] == embedded_tokenizer.eos_token_id == ex.labels[-1]
    assert count_tokens(enc, embedded_tokenizer, fmt) == len(ex)
    no_eos = tokenize_example(enc, embedded_tokenizer, fmt, append_eos=False)
    assert len(no_eos) == len(ex) - 1


def test_prompt_has_no_labels_or_eos(grid, embedded_tokenizer):
    fmt = get_format("compact")
    pt = _pt(grid)
    enc = fmt.encode(PseudoTask(pt.demos, pt.query_input), embedded_tokenizer)
    ex = tokenize_example(enc, embedded_tokenizer, fmt, "query")
    assert ex.n_loss_tokens == 0 and ex.input_ids[-1] != embedded_tokenizer.eos_token_id


def test_unknown_loss_on(grid):
    enc = get_format("compact").encode(_pt(grid))
    with pytest.raises(ValueError, match="loss_on"):
        enc.loss_spans("inputs")
