"""Tokenise an encoded pseudo-task and build its loss mask from character spans.

The mask comes from the tokenizer's offset mapping (`return_offsets_mapping=True`): a token gets a
label when its character range overlaps one of the loss spans of `Encoded.loss_spans(loss_on)`.
No token id is hard-coded, so any fast tokenizer works. Text is tokenised with the tokenizer's
special tokens (BOS), as arc_lm's backends tokenise prompts (chat formats drop a BOS the template
wrote itself, see formats._strip_added_bos). For plain-text formats, when the example carries a
query output, the EOS token is appended with a label so the adapted model learns to stop
(TTT_METHOD §8); chat formats already end the assistant turn with the template's end-of-turn token,
which lies inside the query span.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transduction.formats import Encoded, Format

IGNORE = -100


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]      # IGNORE where no loss

    def __post_init__(self) -> None:
        assert len(self.input_ids) == len(self.labels)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_loss_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def tokenize(text: str, tokenizer: Any, fmt: Format) -> tuple[list[int], list[tuple[int, int]]]:
    """Token ids and character offsets of `text` as the model will see it."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("loss masks need a fast tokenizer (offset mapping); got a slow one")
    enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def tokenize_example(encoded: Encoded, tokenizer: Any, fmt: Format, loss_on: str = "outputs",
                     append_eos: bool = True) -> TokenizedExample:
    """input ids + labels (IGNORE outside the loss spans)."""
    ids, offsets = tokenize(encoded.text, tokenizer, fmt)
    spans = encoded.loss_spans(loss_on)
    labels = [
        tid if any(s < e_span and e > s_span for s_span, e_span in spans) and e > s else IGNORE
        for tid, (s, e) in zip(ids, offsets)
    ]
    if append_eos and not fmt.chat and encoded.query_output_span is not None:
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("tokenizer has no EOS token; cannot teach the model to stop")
        ids.append(eos)
        labels.append(eos)
    return TokenizedExample(tuple(ids), tuple(labels))


def count_tokens(encoded: Encoded, tokenizer: Any, fmt: Format) -> int:
    """Tokens of the encoded text (plus the appended EOS for text formats with an answer)."""
    ids, _ = tokenize(encoded.text, tokenizer, fmt)
    return len(ids) + (1 if not fmt.chat and encoded.query_output_span is not None else 0)
