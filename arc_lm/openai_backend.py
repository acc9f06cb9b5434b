"""The `openai` backend: any OpenAI-compatible HTTP server (vllm serve, llama.cpp server, hosted APIs).

Chat requests go to `<base_url>/chat/completions`, raw prompts to `<base_url>/completions`
(standard library `urllib` only). Up to `concurrency` requests are in flight at once (a thread
pool); 429, 5xx and connection errors are retried with exponential backoff (`backoff_s`, doubled
each time; a numeric `Retry-After` header wins); any other 4xx raises `OpenAIError` at once with
the server's message. The API key is read from the environment variable named by `api_key_env`.

Differences from the local backends, by necessity:
- `adapter` is the *served model name* of a LoRA adapter (e.g. `vllm serve --lora-modules
  NAME=DIR`), sent as `model`; the server owns the adapter files.
- `min_new_tokens > 0` is sent as `min_tokens` (a vLLM extension other servers may reject).
- `completion_tokens` per sample are exact when log-probs are returned or `n == 1`; otherwise the
  usage total is split evenly over the samples.
- `score` uses `/completions` with `echo=true, logprobs=0` and counts the tokens whose text offset
  lies in the continuation (the server tokenises prompt + continuation together).
"""
from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from arc_lm.api import FinishReason, GenerationRequest, GenerationResult, ScoreRequest, ScoreResult, trim_at_stop
from arc_lm.config import LMConfig

T = TypeVar("T")
R = TypeVar("R")


class OpenAIError(RuntimeError):
    """The server refused a request (4xx other than 429) or kept failing after all retries."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OpenAIBackend:
    """Generation and scoring through an OpenAI-compatible HTTP API (see the module docstring)."""

    name = "openai"

    def __init__(self, config: LMConfig):
        self.config = config
        self.settings = config.openai
        self.base_url = self.settings.base_url.rstrip("/")
        self.model_name = self.settings.model or config.model
        self.api_key = os.environ.get(self.settings.api_key_env) if self.settings.api_key_env else None

    @classmethod
    def from_config(cls, config: LMConfig) -> "OpenAIBackend":
        return cls(config)

    def close(self) -> None:
        """Connections are per request; nothing to release."""

    # -- HTTP ----------------------------------------------------------------------------
    def post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to `<base_url><path>` with retries; the decoded JSON response."""
        url = self.base_url + path
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(payload).encode()
        last = ""
        for attempt in range(self.settings.max_retries + 1):
            delay = self.settings.backoff_s * 2**attempt
            try:
                req = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.settings.timeout_s) as resp:
                    body = resp.read()
                try:
                    return json.loads(body)
                except json.JSONDecodeError:
                    raise OpenAIError(f"{url}: response is not JSON: {body[:200]!r}") from None
            except urllib.error.HTTPError as e:
                detail = _error_detail(e)
                if e.code != 429 and e.code < 500:
                    raise OpenAIError(f"{url}: HTTP {e.code}: {detail}", status=e.code) from None
                last = f"HTTP {e.code}: {detail}"
                retry_after = e.headers.get("Retry-After") if e.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    delay = float(retry_after)
            except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            if attempt < self.settings.max_retries:
                time.sleep(delay)
        raise OpenAIError(f"{url}: failed after {self.settings.max_retries + 1} attempts; last error: {last}")

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """`fn` over `items` with at most `concurrency` in flight; the first error is raised."""
        with ThreadPoolExecutor(max_workers=self.settings.concurrency) as pool:
            futures = [pool.submit(fn, it) for it in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    # -- generation ----------------------------------------------------------------------
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        for i, req in enumerate(requests):
            if not isinstance(req, GenerationRequest):
                raise TypeError(f"requests[{i}] is a {type(req).__name__}, not a GenerationRequest")
        return self._map(self._generate_one, list(requests))

    def _generate_one(self, req: GenerationRequest) -> GenerationResult:
        payload: dict[str, Any] = {
            "model": req.adapter or self.model_name,
            "n": req.n,
            "temperature": req.temperature,
            "top_p": req.top_p,
            "max_tokens": req.max_new_tokens,
        }
        if req.stop:
            payload["stop"] = list(req.stop)
        if req.seed is not None:
            payload["seed"] = req.seed
        if req.min_new_tokens:
            payload["min_tokens"] = req.min_new_tokens
        chat = req.messages is not None
        if chat:
            payload["messages"] = [m.to_dict() for m in req.messages]
            if req.logprobs:
                payload["logprobs"] = True
        else:
            payload["prompt"] = req.prompt
            if req.logprobs:
                payload["logprobs"] = 0
        resp = self.post("/chat/completions" if chat else "/completions", payload)
        return _parse_generation(resp, req, chat)

    # -- scoring -------------------------------------------------------------------------
    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]:
        pairs = [(ri, ci) for ri, r in enumerate(requests) for ci in range(len(r.continuations))]
        totals = self._map(lambda p: self._score_pair(requests[p[0]], p[1]), pairs)
        out = []
        for ri, r in enumerate(requests):
            got = [totals[k] for k, p in enumerate(pairs) if p[0] == ri]
            out.append(ScoreResult(logprobs=tuple(g[0] for g in got), num_tokens=tuple(g[1] for g in got)))
        return out

    def _score_pair(self, req: ScoreRequest, ci: int) -> tuple[float, int]:
        text = req.prompt + req.continuations[ci]
        payload = {
            "model": req.adapter or self.model_name, "prompt": text, "echo": True, "logprobs": 0,
            "max_tokens": 1, "temperature": 0.0,
        }
        resp = self.post("/completions", payload)
        try:
            lp = resp["choices"][0]["logprobs"]
            offsets, values = lp["text_offset"], lp["token_logprobs"]
        except (KeyError, IndexError, TypeError):
            raise OpenAIError(
                f"{self.base_url}/completions: no echoed prompt log-probs in the response; this server "
                "does not support scoring (needs echo=true with logprobs)"
            ) from None
        total, count = 0.0, 0
        for off, v in zip(offsets, values):
            if len(req.prompt) <= off < len(text):
                if v is None:
                    raise OpenAIError("score: the server returned no log-prob for a continuation token")
                total += float(v)
                count += 1
        return total, count


def _error_detail(e: urllib.error.HTTPError) -> str:
    try:
        body = e.read().decode(errors="replace")
    except OSError:
        return e.reason or ""
    try:
        err = json.loads(body).get("error", body)
        return str(err.get("message", err) if isinstance(err, dict) else err)[:500]
    except (json.JSONDecodeError, AttributeError):
        return body[:500]


def _parse_generation(resp: dict[str, Any], req: GenerationRequest, chat: bool) -> GenerationResult:
    try:
        choices = sorted(resp["choices"], key=lambda c: c.get("index", 0))
        texts, reasons, lps = [], [], []
        for c in choices:
            raw = c["message"]["content"] if chat else c["text"]
            text, stopped = trim_at_stop(raw or "", req.stop)
            texts.append(text)
            length = c.get("finish_reason") == "length" and not stopped
            reasons.append(FinishReason.LENGTH if length else FinishReason.STOP)
            if req.logprobs:
                lp = c.get("logprobs") or {}
                vals = [t["logprob"] for t in lp.get("content") or []] if chat else lp.get("token_logprobs") or []
                lps.append(tuple(float(v) for v in vals))
        usage = resp.get("usage") or {}
    except (KeyError, TypeError, AttributeError) as e:
        raise OpenAIError(f"unexpected response shape ({type(e).__name__}: {e}): {json.dumps(resp)[:300]}") from None
    if len(texts) != req.n:
        raise OpenAIError(f"asked for n={req.n} samples, the server returned {len(texts)}")
    total = int(usage.get("completion_tokens", 0))
    counts = tuple(len(v) for v in lps) if req.logprobs else (total,) if req.n == 1 else (total // req.n,) * req.n
    return GenerationResult(
        texts=tuple(texts),
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=counts,
        finish_reasons=tuple(reasons),
        token_logprobs=tuple(lps) if req.logprobs else None,
    )
