"""The date-free Llama-3 chat template: supplied when a Llama-3 tokenizer has no template or a dated
one (Llama-3.2's writes today's date), and never imposed on other tokenizers."""
from __future__ import annotations

from arc_lm.encoding import LLAMA3_CHAT_TEMPLATE, ensure_dateless_template
from arc_lm.models import llama3_tokenizer_dir, load_tokenizer_dir

DATED = ("{{- bos_token }}{%- set date_string = strftime_now('%d %b %Y') %}"
         "{{- '<|start_header_id|>system<|end_header_id|>\\n\\nToday Date: ' + date_string }}")


def test_the_offline_llama3_tokenizer_gets_the_template():
    tok = load_tokenizer_dir(llama3_tokenizer_dir())
    assert len(tok.get_vocab()) >= 128_256 and tok.chat_template == LLAMA3_CHAT_TEMPLATE
    text = tok.apply_chat_template([{"role": "system", "content": "a\n"}, {"role": "user", "content": "[[1]] -> "}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\na<|eot_id|>"
                    "<|start_header_id|>user<|end_header_id|>\n\n[[1]] -><|eot_id|>"
                    "<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_a_dated_template_is_replaced_and_others_are_kept(embedded_tokenizer):
    tok = load_tokenizer_dir(llama3_tokenizer_dir())
    tok.chat_template = DATED
    assert ensure_dateless_template(tok) and tok.chat_template == LLAMA3_CHAT_TEMPLATE
    assert not ensure_dateless_template(tok)  # already date-free: left alone
    kept = embedded_tokenizer.chat_template
    assert not ensure_dateless_template(embedded_tokenizer) and embedded_tokenizer.chat_template == kept
