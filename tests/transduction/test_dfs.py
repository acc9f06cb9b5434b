"""DFS over a fake model with hand-set next-token probabilities, and cache correctness on a tiny Llama."""
from __future__ import annotations

import math

import pytest
import torch

from transduction.dfs import GridGrammar, SearchConfig, State, search

NL, END = 10, 11
GRAMMAR = GridGrammar({i: str(i) for i in range(10)}, {NL}, {END})


class _Cache:
    """Per-row token histories standing in for a KV cache."""

    def __init__(self, rows):
        self.rows = rows

    def reorder_cache(self, index):
        self.rows = [list(self.rows[int(i)]) for i in index]


class _Out:
    def __init__(self, logits, cache):
        self.logits, self.past_key_values = logits, cache


class TableModel(torch.nn.Module):
    """Next-token probabilities looked up by the generated text so far (after the prompt)."""

    def __init__(self, table, prompt_len):
        super().__init__()
        self.table, self.prompt_len = table, prompt_len
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, input_ids, past_key_values=None, use_cache=True):
        self.calls += 1
        cache = past_key_values or _Cache([[] for _ in range(input_ids.shape[0])])
        for row, ids in zip(cache.rows, input_ids.tolist()):
            row.extend(ids)
        logits = torch.full((len(cache.rows), 1, 12), -1e9)
        for r, row in enumerate(cache.rows):
            text = GRAMMAR.decode(tuple(row[self.prompt_len:]))
            for tok, p in self.table[text].items():
                logits[r, 0, tok] = math.log(p)
        return _Out(logits, cache)


# generated text -> next-token probabilities (token 10 = newline, 11 = end)
TABLE = {
    "": {1: 0.6, 2: 0.3, 3: 0.1},
    "1": {END: 0.5, 1: 0.3, 7: 0.2},       # "1" 0.30 | "11..." 0.18 | "17..." 0.12
    "2": {NL: 0.8, END: 0.2},              # "2" 0.06 (below 0.1)
    "3": {END: 1.0},                       # "3" 0.10 (exactly at the threshold)
    "11": {END: 1.0},                      # "11" 0.18
    "17": {END: 0.4, NL: 0.6},             # "17" 0.048 (below) ; "17\n" 0.072 (pruned)
    "2\n": {4: 0.9, 5: 0.1},               # "2\n4" 0.216 ; "2\n5" 0.024 (pruned)
    "2\n4": {END: 1.0},                    # "2\n4" 0.216
}


def test_search_finds_exactly_the_completions_above_threshold():
    model = TableModel(TABLE, prompt_len=3)
    res = search(model, [1, 2, 3], GRAMMAR, SearchConfig(threshold=0.1))
    got = [(c.text, round(math.exp(c.logprob), 6)) for c in res.completions]
    assert got == [("1", 0.3), ("2\n4", 0.216), ("11", 0.18), ("3", 0.1)]
    assert not res.capped
    assert res.steps == 3 and model.calls == 4   # prompt once, then one batched pass per depth


def test_caps_are_reported_and_keep_the_most_probable():
    res = search(TableModel(TABLE, 3), [1, 2, 3], GRAMMAR, SearchConfig(threshold=0.1, max_candidates=2))
    assert [c.text for c in res.completions] == ["1", "2\n4"] and res.capped
    res = search(TableModel(TABLE, 3), [1, 2, 3], GRAMMAR, SearchConfig(threshold=0.1, max_branches=1))
    assert res.capped and [c.text for c in res.completions] == ["1", "11"]  # only branch "1" survives depth 1


def test_grammar_masks_invalid_tokens_and_renormalises():
    # the model puts most mass on an invalid end (empty grid) and on a newline before any cell
    table = {"": {END: 0.5, NL: 0.3, 4: 0.2}, "4": {END: 1.0}}
    res = search(TableModel(table, 1), [5], GRAMMAR, SearchConfig(threshold=0.5))
    assert [(c.text, round(math.exp(c.logprob), 6)) for c in res.completions] == [("4", 1.0)]


def test_grammar_rows_must_match_the_first_width():
    s = State()
    for tok in (1, 2, NL, 3):
        s = GRAMMAR.advance(s, tok)
    assert s == State(rows=1, cells=1, width=2)
    assert NL not in GRAMMAR.allowed(s) and END not in GRAMMAR.allowed(s)
    s = GRAMMAR.advance(s, 4)
    assert GRAMMAR.allowed(s) == [NL, END]


def test_config_validation():
    with pytest.raises(ValueError, match="threshold"):
        SearchConfig(threshold=0.0)


def test_cache_reuse_matches_full_forward(tiny_model_dir, embedded_tokenizer):
    """On a real (tiny random) Llama: each completion's log-prob equals a fresh full forward's."""
    from arc_lm.models import load_hf_model

    model, tok = load_hf_model(str(tiny_model_dir), device="cpu", dtype="float32")
    grammar = GridGrammar.from_tokenizer(tok, {tok.eos_token_id})
    prompt = tok("input:\n12\noutput:\n", add_special_tokens=True)["input_ids"]
    res = search(model, prompt, grammar, SearchConfig(threshold=0.001, max_new_tokens=4, max_branches=8))
    assert res.completions
    for c in res.completions:
        ids = tok(c.text, add_special_tokens=False)["input_ids"]
        end = [t for t in grammar.end_ids]
        full = torch.tensor([prompt + ids])
        with torch.no_grad():
            logits = model(input_ids=full).logits[0].float()
        total, state = 0.0, State()
        for pos, tid in enumerate(ids + [None]):
            allowed = grammar.allowed(state)
            lp = torch.log_softmax(logits[len(prompt) - 1 + pos, allowed], -1)
            if tid is None:  # the end token: the best-scoring end that completes this text
                total += float(torch.logsumexp(lp[[allowed.index(e) for e in end if e in allowed]], 0))
                break
            total += float(lp[allowed.index(tid)])
            state = grammar.advance(state, tid)
        assert c.logprob == pytest.approx(total, abs=1e-4)
