"""peft adapters in the hf backend: loaded by path, switched and evicted without reloading the base."""
from __future__ import annotations

import pytest
import torch

from arc_lm import LMConfig, ScoreRequest, GenerationRequest, load_hf_model
from arc_lm.hf_backend import HFBackend

REQ = ScoreRequest("hello there", ("general kenobi", " 0 1 2"))


def make_adapter(model_dir, out, seed: int):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model, _ = load_hf_model(model_dir, device="cpu")
    cfg = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, cfg)
    peft_model.save_pretrained(str(out))
    return peft_model


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    make_adapter(tiny_model_dir, root / "a", 1)
    make_adapter(tiny_model_dir, root / "b", 2)
    return root / "a", root / "b"


@pytest.fixture(scope="module")
def references(tiny_model_dir, adapters):
    """Scores from fresh models: the base, and the base with each adapter merged in by peft."""
    from peft import PeftModel

    out = {}
    base, tok = load_hf_model(tiny_model_dir, device="cpu")
    out[None] = HFBackend.from_model(base, tok, LMConfig(device="cpu")).score([REQ])[0].logprobs
    for path in adapters:
        model, tok = load_hf_model(tiny_model_dir, device="cpu")
        merged = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
        out[str(path)] = HFBackend.from_model(merged, tok, LMConfig(device="cpu")).score([REQ])[0].logprobs
    assert len({out[k] for k in out}) == 3  # the adapters change the model
    return out


@pytest.mark.parametrize("max_loaded", [1, 8])
def test_switching_adapters_matches_fresh_models(tiny_model_dir, adapters, references, max_loaded):
    model, tok = load_hf_model(tiny_model_dir, device="cpu")
    b = HFBackend.from_model(model, tok, LMConfig(device="cpu", max_loaded_adapters=max_loaded))
    a, bb = (str(p) for p in adapters)
    for adapter in (None, a, bb, None, a, a, bb, None):
        [res] = b.score([ScoreRequest(REQ.prompt, REQ.continuations, adapter)])
        assert res.logprobs == pytest.approx(references[adapter], abs=1e-3), adapter
    assert len(b.adapters.loaded) == min(max_loaded, 2)


def test_one_call_mixes_adapters(tiny_model_dir, adapters, references):
    model, tok = load_hf_model(tiny_model_dir, device="cpu")
    b = HFBackend.from_model(model, tok, LMConfig(device="cpu"))
    reqs = [ScoreRequest(REQ.prompt, REQ.continuations, a) for a in (str(adapters[0]), None, str(adapters[1]))]
    got = [r.logprobs for r in b.score(reqs)]
    want = [references[str(adapters[0])], references[None], references[str(adapters[1])]]
    for g, w in zip(got, want):
        assert g == pytest.approx(w, abs=1e-3)
    gens = b.generate([GenerationRequest(prompt="hi", max_new_tokens=4, adapter=str(adapters[0])),
                       GenerationRequest(prompt="hi", max_new_tokens=4)])
    assert all(g.completion_tokens == (4,) for g in gens)


def test_wrapping_a_trained_peft_model_uses_its_adapter(tiny_model_dir, adapters, references, tmp_path):
    peft_model = make_adapter(tiny_model_dir, tmp_path / "same-as-a", 1)  # same seed as adapter a
    peft_model.train()
    _, tok = load_hf_model(tiny_model_dir, device="cpu")
    b = HFBackend.from_model(peft_model, tok, LMConfig(device="cpu"))
    [res] = b.score([REQ])
    assert res.logprobs == pytest.approx(references[str(adapters[0])], abs=1e-3)
    [other] = b.score([ScoreRequest(REQ.prompt, REQ.continuations, str(adapters[1]))])
    assert other.logprobs == pytest.approx(references[str(adapters[1])], abs=1e-3)
    [back] = b.score([REQ])  # adapter=None returns to the adapter the model came with
    assert back.logprobs == pytest.approx(res.logprobs, abs=1e-5)
    assert peft_model.training  # the caller's training mode is restored


def test_bad_adapter_path_is_a_clear_error(tiny_model_dir, tmp_path):
    model, tok = load_hf_model(tiny_model_dir, device="cpu")
    b = HFBackend.from_model(model, tok, LMConfig(device="cpu"))
    with pytest.raises(ValueError, match="not a peft adapter directory"):
        b.score([ScoreRequest("a", ("b",), adapter=str(tmp_path))])
