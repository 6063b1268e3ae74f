"""A tiny Qwen2-architecture model made in seconds, with the real Qwen2.5-Coder tokenizer.

The tokenizer comes from the default model's Hugging Face form when codeslm converted it,
else from the default model's GGUF (slower: transformers rebuilds it from the GGUF's
vocabulary). The weights are random (seeded); the GGUF is written by llama.cpp's own
converter from the vendored source, as a user's model would be.
"""

from __future__ import annotations

from pathlib import Path

from codeslm.runtime.models import hf_form
from codeslm.runtime.models.resolve import resolve
from codeslm.tune import llama_src

DEFAULT = "qwen2.5-coder-0.5b"


def load_tokenizer():  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    converted = hf_form.converted(DEFAULT)
    if converted is not None:
        return AutoTokenizer.from_pretrained(str(converted))
    gguf = resolve(DEFAULT, fetch=False).path
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def make_tiny(folder: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """(Hugging Face folder, GGUF file) of a 2-layer, 128-wide Qwen2 model (head size 64:
    vLLM's CPU attention supports no smaller one)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = load_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32768,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    hf = folder / "tiny-hf"
    Qwen2ForCausalLM(config).save_pretrained(str(hf))
    tokenizer.save_pretrained(str(hf))
    gguf = folder / "tiny.gguf"
    llama_src.run_converter(
        "convert_hf_to_gguf.py",
        ["--outtype", "f32", "--outfile", str(gguf), str(hf)],
        log_file=folder / "convert.log",
    )
    return hf, gguf
