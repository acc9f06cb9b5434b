"""Prompt encoding shared by the local backends, so `hf` and `vllm` see the same token ids, and the
date-free Llama-3 chat template (`ensure_dateless_template`).

A raw `prompt` is tokenised with the tokenizer's own special tokens (e.g. a BOS for Llama 3);
chat `messages` go through the tokenizer's chat template (with the generation prompt, or
continuing the last message when it is the assistant's) and are tokenised without adding more.
"""
from __future__ import annotations

from typing import Any

from arc_lm.api import GenerationRequest


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    return list(tokenizer(prompt)["input_ids"])


def chat_text(tokenizer: Any, request: GenerationRequest) -> str:
    """The chat template applied to the request's messages."""
    assert request.messages is not None
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("this model's tokenizer has no chat template: send prompt= instead of messages=")
    messages = [m.to_dict() for m in request.messages]
    cont = messages[-1]["role"] == "assistant"
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=not cont, continue_final_message=cont
    )


def encode_request(tokenizer: Any, request: GenerationRequest) -> list[int]:
    if request.prompt is not None:
        return encode_prompt(tokenizer, request.prompt)
    return list(tokenizer(chat_text(tokenizer, request), add_special_tokens=False)["input_ids"])


def encode_continuation(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


# The Llama-3 chat template without a date: each message as a header, the trimmed content and
# <|eot_id|>, BOS before the first; the generation prompt opens an assistant header. This is the
# layout Meta-Llama-3-8B-Instruct ships and the one the TTT paper's torchtune tokenizer writes in
# training. Llama-3.2's own template writes today's date into every system turn (strftime_now), so
# prompts would change with the calendar.
LLAMA3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    " + message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)


def is_llama3(tokenizer: Any) -> bool:
    """The Llama-3 vocabulary: its header and end-of-turn tokens are single special tokens."""
    vocab = tokenizer.get_vocab()
    return all(t in vocab for t in ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"))


def ensure_dateless_template(tokenizer: Any) -> bool:
    """Give a Llama-3-family tokenizer the date-free Llama-3 template when it has none or a dated
    one (a template that reads the clock); True when it was replaced. Others are left alone."""
    template = getattr(tokenizer, "chat_template", None)
    dated = isinstance(template, str) and "strftime_now" in template
    if (template is None or dated) and is_llama3(tokenizer):
        tokenizer.chat_template = LLAMA3_CHAT_TEMPLATE
        return True
    return False
