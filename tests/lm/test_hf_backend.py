"""The hf backend on the tiny random Llama: batching, seeds, stops, log-probs, scoring, adapters."""
from __future__ import annotations

import math

import pytest
import torch

from arc_lm import GenerationRequest, LMConfig, ScoreRequest, load_hf_model
from arc_lm.api import FinishReason
from arc_lm.hf_backend import HFBackend, _RowSampler, _Row

PROMPTS = ["hello", "The quick brown fox jumps over the lazy dog", "1 2 3\n4 5 6\n", "a"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_hf_model(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def backend(tiny):
    model, tok = tiny
    return HFBackend.from_model(model, tok, LMConfig(model="tiny", device="cpu", batch_size=8))


def naive_logprobs(model, ids: list[int], start: int) -> list[float]:
    """Log-prob of each token ids[start:] given its prefix, from one plain forward pass."""
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0].float()
    lp = torch.log_softmax(logits, -1)
    return [float(lp[k - 1, ids[k]]) for k in range(start, len(ids))]


def test_greedy_batched_equals_one_at_a_time(tiny, backend):
    model, tok = tiny
    single = HFBackend.from_model(model, tok, LMConfig(device="cpu", batch_size=1))
    reqs = [GenerationRequest(prompt=p, max_new_tokens=12) for p in PROMPTS]
    batched = backend.generate(reqs)
    alone = single.generate(reqs)
    assert [r.texts for r in batched] == [r.texts for r in alone]
    for r, p in zip(batched, PROMPTS):
        assert r.prompt_tokens == len(tok(p)["input_ids"])
        assert r.completion_tokens == (12,) and r.finish_reasons == (FinishReason.LENGTH,)
        assert r.texts[0]


def test_greedy_matches_bare_generate(tiny, backend):
    model, tok = tiny
    ids = tok(PROMPTS[1], return_tensors="pt")
    with torch.no_grad():
        ref = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
    want = tok.decode(ref[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    [got] = backend.generate([GenerationRequest(prompt=PROMPTS[1], max_new_tokens=10)])
    assert got.text == want


def test_sampling_reproducible_per_seed_and_independent_of_batch(backend):
    req = GenerationRequest(prompt="hello", n=3, temperature=1.0, seed=7, max_new_tokens=8)
    a = backend.generate([req])[0]
    b = backend.generate([GenerationRequest(prompt="a b c", n=2, temperature=0.7, seed=1, max_new_tokens=5), req])[1]
    c = backend.generate([GenerationRequest(prompt="hello", n=3, temperature=1.0, seed=8, max_new_tokens=8)])[0]
    assert a.texts == b.texts
    assert len(set(a.texts)) > 1  # the samples differ from each other
    assert a.texts != c.texts


def test_tiny_top_p_is_greedy(backend):
    greedy = backend.generate([GenerationRequest(prompt=PROMPTS[2], max_new_tokens=10)])[0]
    nucleus = backend.generate([GenerationRequest(prompt=PROMPTS[2], max_new_tokens=10, temperature=1.5, top_p=1e-6, seed=3)])[0]
    assert nucleus.texts == greedy.texts


def test_greedy_n_repeats_one_sample(backend):
    r = backend.generate([GenerationRequest(prompt="hello", n=3, max_new_tokens=5)])[0]
    assert len(r.texts) == 3 and len(set(r.texts)) == 1


def test_stop_strings_are_trimmed(backend):
    full = backend.generate([GenerationRequest(prompt=PROMPTS[1], max_new_tokens=20)])[0]
    text = full.text
    stop = text[len(text) // 2 : len(text) // 2 + 3]
    assert stop.strip(), text
    cut = text[: text.find(stop)]
    reqs = [GenerationRequest(prompt=PROMPTS[1], max_new_tokens=20, stop=(stop, "\x00never")),
            GenerationRequest(prompt=PROMPTS[0], max_new_tokens=4)]
    stopped, other = backend.generate(reqs)
    assert stopped.text == cut
    assert stopped.finish_reasons == (FinishReason.STOP,)
    assert stopped.completion_tokens[0] < 20
    assert other.completion_tokens == (4,)


def test_mixed_max_new_tokens_in_one_batch(backend):
    reqs = [GenerationRequest(prompt=p, max_new_tokens=k) for p, k in zip(PROMPTS, (3, 9, 1, 6))]
    res = backend.generate(reqs)
    assert [r.completion_tokens[0] for r in res] == [3, 9, 1, 6]
    long = backend.generate([GenerationRequest(prompt=PROMPTS[1], max_new_tokens=9)])[0]
    assert res[1].text == long.text


def test_logprobs_match_a_plain_forward_pass(tiny, backend):
    model, tok = tiny
    for temperature in (0.0, 1.0):
        r = backend.generate([GenerationRequest(prompt=PROMPTS[1], max_new_tokens=8, logprobs=True,
                                                temperature=temperature, seed=5)])[0]
        prompt = tok(PROMPTS[1])["input_ids"]
        gen = tok(r.text, add_special_tokens=False)["input_ids"]
        want = naive_logprobs(model, prompt + gen, len(prompt))
        assert len(r.token_logprobs[0]) == 8
        if len(gen) == 8:  # the decoded text re-tokenises to the same tokens (usual, not guaranteed)
            assert r.token_logprobs[0] == pytest.approx(want, abs=1e-4)
        assert all(v <= 0 for v in r.token_logprobs[0])


def test_chat_messages_use_the_chat_template(tiny, backend):
    _, tok = tiny
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    r = backend.generate([GenerationRequest(messages=msgs, max_new_tokens=3)])[0]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert r.prompt_tokens == len(ids)


@pytest.mark.parametrize(
    "step, minimum, chosen_is_eos",
    [(0, 3, False), (2, 3, False), (3, 3, True), (0, 0, True)],
)
def test_min_new_tokens_masks_eos(step, minimum, chosen_is_eos):
    eos = 5
    req = GenerationRequest(prompt="x", max_new_tokens=8, min_new_tokens=minimum)
    sampler = _RowSampler([_Row(0, 0, req, [1], 0)], [eos], prompt_len=1, device="cpu")
    scores = torch.zeros(1, 10)
    scores[0, eos] = 10.0
    out = sampler(torch.zeros(1, 1 + step, dtype=torch.long), scores)
    assert (int(out.argmax()) == eos) == chosen_is_eos


def test_min_new_tokens_end_to_end(backend):
    r = backend.generate([GenerationRequest(prompt="hello", max_new_tokens=6, min_new_tokens=6)])[0]
    assert r.completion_tokens == (6,) and r.finish_reasons == (FinishReason.LENGTH,)


@pytest.mark.parametrize("batch_size", [1, 2, 8])
def test_score_matches_plain_forward(tiny, batch_size):
    model, tok = tiny
    b = HFBackend.from_model(model, tok, LMConfig(device="cpu", batch_size=batch_size))
    conts = ("world", " 1 2 3 4 5 6 7 8", "x", "\n0 0\n0 0")
    [res] = b.score([ScoreRequest("hello there", conts)])
    prompt = tok("hello there")["input_ids"]
    for c, total, n in zip(conts, res.logprobs, res.num_tokens):
        ids = tok(c, add_special_tokens=False)["input_ids"]
        assert n == len(ids)
        assert total == pytest.approx(sum(naive_logprobs(model, prompt + ids, len(prompt))), abs=1e-3)


def test_score_is_ordered_and_rejects_empty_prompt(backend):
    res = backend.score([ScoreRequest("a", ("b",)), ScoreRequest("c", ("d", "e"))])
    assert [len(r.logprobs) for r in res] == [1, 2]
    assert all(math.isfinite(v) and v < 0 for r in res for v in r.logprobs)
    with pytest.raises(ValueError, match="no tokens"):
        backend.score([ScoreRequest("", ("b",))])


def test_wrong_request_type_is_an_error(backend):
    with pytest.raises(TypeError, match="GenerationRequest"):
        backend.generate([ScoreRequest("a", ("b",))])
    with pytest.raises(TypeError, match="ScoreRequest"):
        backend.score([GenerationRequest(prompt="a")])


def test_different_min_new_tokens_in_one_batch(backend):
    reqs = [GenerationRequest(prompt="hello", max_new_tokens=6, min_new_tokens=6),
            GenerationRequest(prompt="a", max_new_tokens=6, min_new_tokens=2)]
    first, second = backend.generate(reqs)
    assert first.completion_tokens == (6,)
    assert 2 <= second.completion_tokens[0] <= 6


def test_a_deadline_ends_generation_early_and_a_past_one_starts_nothing(backend):
    import time

    long = GenerationRequest(prompt="hello", max_new_tokens=4000, min_new_tokens=4000, deadline=time.time() + 0.3)
    t0 = time.monotonic()
    (res,) = backend.generate([long])
    assert time.monotonic() - t0 < 5  # 4000 tokens would take far longer on the tiny model here
    assert res.finish_reasons == (FinishReason.TIME,) and 0 < res.completion_tokens[0] < 4000
    late = GenerationRequest(prompt="hello", max_new_tokens=8, deadline=time.time() - 1, logprobs=True)
    (res,) = backend.generate([late])
    assert res.texts == ("",) and res.completion_tokens == (0,) and res.finish_reasons == (FinishReason.TIME,)
    (free,) = backend.generate([GenerationRequest(prompt="hello", max_new_tokens=8, min_new_tokens=8)])
    assert free.finish_reasons == (FinishReason.LENGTH,)  # no deadline: the length limit, as before
    with pytest.raises(ValueError, match="deadline"):
        GenerationRequest(prompt="x", deadline=float("nan"))
