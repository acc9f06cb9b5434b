"""The backend interface: request and result types shared by every backend.

`Backend.generate(requests)` samples `n` completions per request (raw text `prompt` or chat
`messages`); `Backend.score(requests)` returns the total log-probability of each continuation after a
prompt. Both take an optional peft adapter directory per request. Requests validate themselves, so a
bad value fails at construction with a message that names it.

Conventions (the same for every backend):
- `temperature == 0` is greedy decoding (then `n` identical samples are allowed but pointless).
- `seed` makes sampling reproducible for a given backend and request; `None` draws a fresh seed.
- Stop strings are cut from the returned text (the text ends before the first stop string).
- `completion_tokens[i]` counts the tokens generated for sample i (stop string included).
- `token_logprobs[i]` (when `logprobs=True`) are the log-probabilities of sample i's generated tokens
  under the model's unmodified distribution (before temperature / top-p).
- `min_new_tokens` (an extension, default 0) suppresses end-of-sequence before that many tokens.
- `group` (an extension, default ""): requests of different groups never share a padded batch. A
  caller that sends several tasks' requests in one call sets it (e.g. to the task id), so that what a
  task gets back never depends on which other tasks travelled with it (padding moves logits).
  Backends without padded batches (vLLM's scheduler, HTTP servers) ignore it.
"""
from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"message role {self.role!r} is not one of {', '.join(ROLES)}")
        if not isinstance(self.content, str):
            raise ValueError(f"message content must be a string, got {type(self.content).__name__}")

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def _as_messages(messages: Sequence[Message | Mapping[str, str]]) -> tuple[Message, ...]:
    out = []
    for m in messages:
        if isinstance(m, Message):
            out.append(m)
        elif isinstance(m, Mapping) and set(m) == {"role", "content"}:
            out.append(Message(m["role"], m["content"]))
        else:
            raise ValueError(f"a chat message must be a Message or a {{'role', 'content'}} dict, got {m!r}")
    if not out:
        raise ValueError("messages is empty")
    return tuple(out)


@dataclass(frozen=True)
class GenerationRequest:
    """Sample `n` completions of `prompt` (raw text) or `messages` (chat, via the chat template)."""

    prompt: str | None = None
    messages: tuple[Message, ...] | None = None
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None
    adapter: str | None = None  # peft adapter directory, None = the model as loaded
    logprobs: bool = False
    min_new_tokens: int = 0
    group: str = ""
    # Wall-clock deadline (time.time() seconds) for a run under a time budget. The hf backend stops
    # generating at it (the text so far, FinishReason.TIME) and does not start a batch past it;
    # vLLM and OpenAI-compatible backends run a call they started to its end (their callers check
    # the deadline before the call).
    deadline: float | None = None

    def __post_init__(self) -> None:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("a GenerationRequest needs exactly one of prompt= or messages=")
        if self.prompt is not None and not isinstance(self.prompt, str):
            raise ValueError(f"prompt must be a string, got {type(self.prompt).__name__}")
        if self.messages is not None:
            object.__setattr__(self, "messages", _as_messages(self.messages))
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        object.__setattr__(self, "stop", tuple(self.stop))
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError(f"stop strings must be non-empty strings, got {self.stop!r}")
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be an integer >= 1, got {self.n!r}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError(f"min_new_tokens must be in [0, max_new_tokens], got {self.min_new_tokens!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {self.seed!r}")
        if self.deadline is not None and not (isinstance(self.deadline, (int, float)) and math.isfinite(self.deadline)):
            raise ValueError(f"deadline must be a finite time.time() value or None, got {self.deadline!r}")
        if self.adapter is not None:
            object.__setattr__(self, "adapter", str(self.adapter))


class FinishReason(str, enum.Enum):
    STOP = "stop"  # end-of-sequence token or a stop string
    LENGTH = "length"  # max_new_tokens reached
    TIME = "time"  # the request's deadline was reached first (GenerationRequest.deadline)


@dataclass(frozen=True)
class GenerationResult:
    """The `n` samples of one request, in order."""

    texts: tuple[str, ...]
    prompt_tokens: int
    completion_tokens: tuple[int, ...]
    finish_reasons: tuple[FinishReason, ...]
    token_logprobs: tuple[tuple[float, ...], ...] | None = None

    def __post_init__(self) -> None:
        assert len(self.texts) == len(self.completion_tokens) == len(self.finish_reasons)
        assert self.token_logprobs is None or len(self.token_logprobs) == len(self.texts)

    @property
    def text(self) -> str:
        """The first sample (convenient for n == 1)."""
        return self.texts[0]


@dataclass(frozen=True)
class ScoreRequest:
    """Total log-probability of each continuation following `prompt` (prompt tokenised on its own)."""

    prompt: str
    continuations: tuple[str, ...]
    adapter: str | None = None
    group: str = ""  # as GenerationRequest.group

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str):
            raise ValueError(f"prompt must be a string, got {type(self.prompt).__name__}")
        if isinstance(self.continuations, str):
            raise ValueError("continuations must be a sequence of strings, not one string")
        object.__setattr__(self, "continuations", tuple(self.continuations))
        if not self.continuations or any(not isinstance(c, str) or not c for c in self.continuations):
            raise ValueError(f"continuations must be non-empty strings (at least one), got {self.continuations!r}")
        if self.adapter is not None:
            object.__setattr__(self, "adapter", str(self.adapter))


@dataclass(frozen=True)
class ScoreResult:
    logprobs: tuple[float, ...]  # total log-probability per continuation
    num_tokens: tuple[int, ...]  # tokens per continuation


@runtime_checkable
class Backend(Protocol):
    """What every backend provides. Results come back in request order."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]: ...

    def score(self, requests: Sequence[ScoreRequest]) -> list[ScoreResult]: ...

    def close(self) -> None: ...


def trim_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` cut before the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
