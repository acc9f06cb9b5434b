"""Prompt encoding shared by the local backends, so `hf` and `vllm` see the same token ids.

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
