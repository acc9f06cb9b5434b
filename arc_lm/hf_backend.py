"""The `hf` backend: transformers on CPU or CUDA, batched, with peft adapters switched in place.

Generation batches up to `LMConfig.batch_size` rows (one row per sample; greedy requests generate
once and repeat) with left padding and calls `model.generate` in greedy mode. The batching rule, the
only one: rows are grouped by (adapter, request `group`), each group sorted by prompt length (longest
first, ties in request order) and cut into batches of `batch_size`; rows of different groups never
share a batch, so what one group gets back does not depend on the other groups of the call. Sampling, per-row
temperature / top-p / seed, per-row `min_new_tokens` and log-prob recording happen in one logits
processor (`_RowSampler`): it draws each row's token from that row's own `torch.Generator` and
returns a one-hot score, so greedy selection picks exactly the drawn token and rows with different
settings share a batch. A stopping criterion (`_RowStops`) ends rows at their own stop strings and
`max_new_tokens`. A greedy batch whose rows share `min_new_tokens` and want no log-probs runs
plain `generate` with nothing of ours per step (bench/lm_generate.py measures this path).

Adapters: `adapter=<dir>` loads a peft adapter into the model (wrapping a plain model in a
`PeftModel` on first use, without reloading the base) and activates it; at most
`max_loaded_adapters` stay loaded (least recently used are deleted). `adapter=None` means the
model as given: adapters the backend loaded are disabled, and a model that came in as a
`PeftModel` runs with the adapter active when it was wrapped, or, built with `base_model=True`
(transduction, whose training adapter changes between calls), with every adapter disabled.
Loaded adapters are activated frozen (`inference_mode`), so they never join a later training.

Scoring runs the prompt once, copies its KV cache for each batch of continuations and sums the
continuation tokens' log-probabilities.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

from arc_lm.api import FinishReason, GenerationRequest, GenerationResult, ScoreRequest, ScoreResult, trim_at_stop
from arc_lm.config import LMConfig
from arc_lm.encoding import encode_continuation, encode_prompt, encode_request
from arc_lm.models import load_hf_model

_ADAPTER_NAMES = itertools.count(1)
SCORE_TOKEN_BUDGET = 2048  # continuation tokens per scoring forward pass (bounds the logits tensor)


def sample_seed(seed: int | None, index: int) -> int:
    """The seed of sample `index` of a request: derived from `seed`, fresh entropy when None."""
    entropy = seed if seed is not None else np.random.SeedSequence().entropy
    return int(np.random.SeedSequence([entropy, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass
class _Row:
    """One sequence to generate: sample `sample` of request `request`."""

    request: int
    sample: int
    req: GenerationRequest
    prompt_ids: list[int]
    seed: int


class _RowSampler(LogitsProcessor):
    """Per-row sampling (own generator, temperature, top-p), eos suppression and log-prob recording."""

    def __init__(self, rows: Sequence[_Row], eos_ids: Sequence[int], prompt_len: int, device: Any):
        self.rows = rows
        self.eos_ids = list(eos_ids)
        self.prompt_len = prompt_len
        self.generators = [torch.Generator(device=device).manual_seed(r.seed) for r in rows]
        self.record = any(r.req.logprobs for r in rows)
        self.logprobs: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        step = input_ids.shape[1] - self.prompt_len
        raw = scores
        scores = scores.clone()
        for i, row in enumerate(self.rows):
            if step < row.req.min_new_tokens and self.eos_ids:
                scores[i, self.eos_ids] = -float("inf")
            if row.req.temperature > 0:
                token = self._draw(scores[i], row.req.temperature, row.req.top_p, self.generators[i])
                scores[i] = -float("inf")
                scores[i, token] = 0.0
        if self.record:
            chosen = scores.argmax(dim=-1, keepdim=True)
            self.logprobs.append(torch.log_softmax(raw.float(), dim=-1).gather(-1, chosen)[:, 0].cpu())
        return scores

    @staticmethod
    def _draw(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator) -> int:
        probs = torch.softmax(logits.float() / temperature, dim=-1)
        if top_p < 1.0:
            sorted_p, order = probs.sort(descending=True)
            keep = (sorted_p.cumsum(-1) - sorted_p) < top_p  # the smallest prefix with mass >= top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_p[keep])
        return int(torch.multinomial(probs, 1, generator=gen))


class _RowStops(StoppingCriteria):
    """Ends each row at its own max_new_tokens or stop strings; remembers the step it ended."""

    def __init__(self, rows: Sequence[_Row], prompt_len: int, tokenizer: Any):
        self.rows = rows
        self.prompt_len = prompt_len
        self.tokenizer = tokenizer
        self.ended: list[int | None] = [None] * len(rows)
        # each token decodes to >= 1 character, so this many tail tokens cover any stop string
        self.tail = [max((len(s) for s in r.req.stop), default=0) + 2 for r in rows]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        step = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for i, row in enumerate(self.rows):
            if self.ended[i] is None:
                if step >= row.req.max_new_tokens:
                    self.ended[i] = row.req.max_new_tokens
                elif row.req.stop:
                    start = max(self.prompt_len, input_ids.shape[1] - self.tail[i])
                    tail = self.tokenizer.decode(input_ids[i, start:], skip_special_tokens=True)
                    if any(s in tail for s in row.req.stop):
                        self.ended[i] = step
            done[i] = self.ended[i] is not None
        return done


class _Deadline(StoppingCriteria):
    """Ends every row once the wall clock passes `deadline` (time.time() seconds)."""

    def __init__(self, deadline: float):
        self.deadline = deadline

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        return torch.full((input_ids.shape[0],), time.time() >= self.deadline, dtype=torch.bool,
                          device=input_ids.device)


def _deadline(rows: Sequence[_Row]) -> float | None:
    return min((r.req.deadline for r in rows if r.req.deadline is not None), default=None)


class _Adapters:
    """Loads, activates and evicts peft adapters on the backend's model."""

    def __init__(self, backend: "HFBackend", max_loaded: int, base_model: bool = False):
        self.backend = backend
        self.max_loaded = max_loaded
        self.loaded: OrderedDict[str, str] = OrderedDict()  # adapter dir -> adapter name
        model = backend.model
        self.initial = model.active_adapter if _is_peft(model) and not base_model else None

    def activate(self, adapter: str | None) -> contextlib.AbstractContextManager[Any]:
        model = self.backend.model
        if adapter is None:
            if not _is_peft(model):
                return contextlib.nullcontext()
            if self.initial is None:
                return model.disable_adapter()
            model.set_adapter(self.initial)
            return contextlib.nullcontext()
        key = str(Path(adapter).expanduser().resolve())
        if key not in self.loaded:
            self._load(key)
        self.loaded.move_to_end(key)
        self.backend.model.set_adapter(self.loaded[key], inference_mode=True)
        while len(self.loaded) > self.max_loaded:  # evict least recently used (never the active one)
            _, old = self.loaded.popitem(last=False)
            self.backend.model.delete_adapter(old)
        return contextlib.nullcontext()

    def _load(self, key: str) -> None:
        if not (Path(key) / "adapter_config.json").is_file():
            raise ValueError(f"adapter {key} is not a peft adapter directory (no adapter_config.json)")
        from peft import PeftModel

        name = f"arc_lm_{next(_ADAPTER_NAMES)}"  # unique in the process: backends may share one model
        model = self.backend.model
        if _is_peft(model):
            model.load_adapter(key, adapter_name=name, torch_device=str(self.backend.device))
        else:
            self.backend.model = PeftModel.from_pretrained(model, key, adapter_name=name, torch_device=str(self.backend.device))
        self.loaded[key] = name


def _is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


class HFBackend:
    """Generation and scoring with a transformers model (see the module docstring)."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, config: LMConfig, base_model: bool = False):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.device = next(model.parameters()).device
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        eos = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        eos |= set(gen_eos if isinstance(gen_eos, list) else [gen_eos] if gen_eos is not None else [])
        self.eos_ids = sorted(eos)
        self.adapters = _Adapters(self, config.max_loaded_adapters, base_model)

    @classmethod
    def from_config(cls, config: LMConfig) -> "HFBackend":
        model, tokenizer = load_hf_model(config.model, config.device, config.dtype)
        return cls(model, tokenizer, config)

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, config: LMConfig | None = None,
                   base_model: bool = False) -> "HFBackend":
        """Wrap an already-loaded (possibly peft) model; it is used as is, not copied. With
        `base_model`, `adapter=None` runs with every adapter disabled (see the module docstring)."""
        return cls(model, tokenizer, config or LMConfig(), base_model)

    @property
    def context(self) -> int | None:
        """The model's context length in tokens (its config's max_position_embeddings), if known."""
        n = getattr(getattr(self.model, "config", None), "max_position_embeddings", None)
        return int(n) if n else None

    def close(self) -> None:
        """Nothing to release beyond what garbage collection does."""

    def encode_request(self, req: GenerationRequest) -> list[int]:
        return encode_request(self.tokenizer, req)

    # -- generation ----------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        rows: list[_Row] = []
        prompts = []
        for ri, req in enumerate(requests):
            if not isinstance(req, GenerationRequest):
                raise TypeError(f"requests[{ri}] is a {type(req).__name__}, not a GenerationRequest")
            ids = self.encode_request(req)
            if not ids:
                raise ValueError(f"requests[{ri}]: the prompt encodes to no tokens")
            prompts.append(len(ids))
            for s in range(1 if req.temperature == 0 else req.n):
                rows.append(_Row(ri, s, req, ids, sample_seed(req.seed, s)))
        outputs: dict[tuple[int, int], tuple[str, int, FinishReason, tuple[float, ...] | None]] = {}
        for (adapter, _), group in _group_by(rows, lambda r: (r.req.adapter, r.req.group)):
            group.sort(key=lambda r: -len(r.prompt_ids))  # stable: ties keep request order
            with self._inference(adapter):
                for start in range(0, len(group), self.config.batch_size):
                    batch = group[start : start + self.config.batch_size]
                    deadline = _deadline(batch)
                    if deadline is not None and time.time() >= deadline:  # past it: not started
                        outs = [("", 0, FinishReason.TIME, () if r.req.logprobs else None) for r in batch]
                    else:
                        outs = self._generate_batch(batch, deadline)
                    for row, out in zip(batch, outs):
                        outputs[(row.request, row.sample)] = out
        results = []
        for ri, req in enumerate(requests):
            samples = [outputs[(ri, 0 if req.temperature == 0 else s)] for s in range(req.n)]
            results.append(
                GenerationResult(
                    texts=tuple(o[0] for o in samples),
                    prompt_tokens=prompts[ri],
                    completion_tokens=tuple(o[1] for o in samples),
                    finish_reasons=tuple(o[2] for o in samples),
                    token_logprobs=tuple(o[3] for o in samples) if req.logprobs else None,
                )
            )
        return results

    @contextlib.contextmanager
    def model_for(self, adapter: str | None) -> Iterator[Any]:
        """The model with `adapter` active (as `generate` would use it), in eval and inference mode: for
        searches that drive the model themselves (transduction's DFS)."""
        with self._inference(adapter):
            yield self.model

    @contextlib.contextmanager
    def _inference(self, adapter: str | None) -> Iterator[None]:
        was_training = self.model.training
        self.model.eval()
        try:
            with self.adapters.activate(adapter), torch.inference_mode():
                yield
        finally:
            if was_training:
                self.model.train()

    def _generate_batch(self, rows: Sequence[_Row], deadline: float | None
                        ) -> list[tuple[str, int, FinishReason, tuple[float, ...] | None]]:
        width = max(len(r.prompt_ids) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r.prompt_ids) :] = torch.tensor(r.prompt_ids)
            mask[i, width - len(r.prompt_ids) :] = 1
        max_new = max(r.req.max_new_tokens for r in rows)
        sampler, min_new = None, 0
        mins = {r.req.min_new_tokens for r in rows}
        if any(r.req.temperature > 0 or r.req.logprobs for r in rows) or len(mins) > 1:
            sampler = _RowSampler(rows, self.eos_ids, width, self.device)
        else:  # greedy rows sharing min_new_tokens: plain generate, nothing of ours per step
            min_new = mins.pop()
        stops = None
        if any(r.req.stop or r.req.max_new_tokens < max_new for r in rows):
            stops = _RowStops(rows, width, self.tokenizer)
        criteria = ([stops] if stops else []) + ([_Deadline(deadline)] if deadline is not None else [])
        gen_config = GenerationConfig(
            max_new_tokens=max_new, min_new_tokens=min_new, do_sample=False, num_beams=1, pad_token_id=self.pad_id,
            eos_token_id=self.eos_ids, repetition_penalty=1.0, temperature=1.0, top_p=1.0, top_k=None,
        )
        out = self.model.generate(
            input_ids=ids.to(self.device), attention_mask=mask.to(self.device), generation_config=gen_config,
            logits_processor=LogitsProcessorList([sampler] if sampler else []),
            stopping_criteria=StoppingCriteriaList(criteria),
        )
        gen = out[:, width:].cpu().tolist()
        lps = torch.stack(sampler.logprobs, dim=1).tolist() if sampler and sampler.record else None
        results = []
        for i, r in enumerate(rows):
            tokens = gen[i]
            limit = r.req.max_new_tokens if stops is None or stops.ended[i] is None else stops.ended[i]
            eos_at = next((k for k, t in enumerate(tokens[:limit]) if t in self.eos_ids), None)
            if eos_at is not None:
                count, reason = eos_at + 1, FinishReason.STOP
                text = self.tokenizer.decode(tokens[:eos_at], skip_special_tokens=True)
            else:
                count = min(limit, len(tokens))
                text = self.tokenizer.decode(tokens[:count], skip_special_tokens=True)
                # Short of its own limit with no end: the deadline ended the batch.
                reason = FinishReason.TIME if deadline is not None and count < limit else FinishReason.LENGTH
            text, stopped = trim_at_stop(text, r.req.stop)
            if stopped:
                reason = FinishReason.STOP
            results.append((text, count, reason, tuple(lps[i][:count]) if r.req.logprobs else None))
        return results

    # -- scoring -------------------------------------------------------------------------
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        results: dict[int, ScoreResult] = {}
        indexed = list(enumerate(requests))
        for i, req in indexed:
            if not isinstance(req, ScoreRequest):
                raise TypeError(f"requests[{i}] is a {type(req).__name__}, not a ScoreRequest")
        for adapter, group in _group_by(indexed, lambda x: x[1].adapter):
            with self._inference(adapter):
                for i, req in group:
                    results[i] = self._score_one(req)
        return [results[i] for i in range(len(requests))]

    def _score_one(self, req: ScoreRequest) -> ScoreResult:
        prompt = encode_prompt(self.tokenizer, req.prompt)
        if not prompt:
            raise ValueError("score: the prompt encodes to no tokens (give a non-empty prompt)")
        conts = [encode_continuation(self.tokenizer, c) for c in req.continuations]
        out = self.model(input_ids=torch.tensor([prompt], device=self.device), use_cache=True)
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        cache = out.past_key_values
        totals = [0.0] * len(conts)
        order = sorted(range(len(conts)), key=lambda k: -len(conts[k]))
        start = 0
        while start < len(order):
            rows = max(1, min(self.config.batch_size, SCORE_TOKEN_BUDGET // max(1, len(conts[order[start]]))))
            chunk = order[start : start + rows]
            start += rows
            for k, total in zip(chunk, self._score_chunk(cache, len(prompt), first, [conts[k] for k in chunk])):
                totals[k] = total
        return ScoreResult(logprobs=tuple(totals), num_tokens=tuple(len(c) for c in conts))

    def _score_chunk(self, cache: Any, prompt_len: int, first: torch.Tensor, conts: list[list[int]]) -> list[float]:
        width = max(len(c) for c in conts)
        ids = torch.full((len(conts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(conts), prompt_len + width), dtype=torch.long)
        mask[:, :prompt_len] = 1
        for i, c in enumerate(conts):
            ids[i, : len(c)] = torch.tensor(c)
            mask[i, prompt_len : prompt_len + len(c)] = 1
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(len(conts))
        ids = ids.to(self.device)
        logits = self.model(
            input_ids=ids, attention_mask=mask.to(self.device), past_key_values=batch_cache, use_cache=True
        ).logits.float()
        # token j of a continuation is predicted by position j-1 (token 0 by the prompt's last position)
        lp = logits[:, :-1].gather(-1, ids[:, 1:, None])[..., 0] - logits[:, :-1].logsumexp(-1)
        totals = []
        for i, c in enumerate(conts):
            totals.append(float(first[c[0]]) + float(lp[i, : len(c) - 1].sum()))
        return totals


def _group_by(items: Sequence[Any], key: Any) -> list[tuple[Any, list[Any]]]:
    """Groups in order of first appearance."""
    groups: dict[Any, list[Any]] = {}
    for it in items:
        groups.setdefault(key(it), []).append(it)
    return list(groups.items())
