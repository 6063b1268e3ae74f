"""Convert one GGUF file into a Hugging Face folder (bf16 safetensors, tokenizer, chat template).

A stand-alone script, run by :mod:`codeslm.runtime.models.hf_form` with the Python of the
environment that has torch, transformers, ``gguf`` and ``accelerate`` (the vLLM environment),
so the project's own environment stays light::

    python hf_convert.py MODEL.gguf OUT_DIR

It writes into ``OUT_DIR`` (which the caller then verifies and renames into place) and prints
one JSON object per line on stdout for progress: ``{"stage": ..., "elapsed_s": ...}``. It uses
only the standard library besides those packages and must not import codeslm.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path and its neighbours (gguf.py)
# would shadow the packages of the same name; the caller also passes -P.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_STARTED = time.monotonic()


def _say(stage: str, **extra: object) -> None:
    line = {"stage": stage, "elapsed_s": round(time.monotonic() - _STARTED, 1), **extra}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def convert(gguf: Path, out: Path) -> None:
    """Dequantize ``gguf`` to bf16 and save model and tokenizer into ``out``."""
    _say("importing torch and transformers")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    _say("reading the tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    _say("dequantizing the weights to bf16")
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent),
        gguf_file=gguf.name,
        dtype=torch.bfloat16,
        quantization_config=GgufConfig(dequantize=True),
    )
    _say("writing safetensors", parameters=sum(p.numel() for p in model.parameters()))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    _say("done")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: hf_convert.py MODEL.gguf OUT_DIR\n")
        return 2
    convert(Path(argv[1]), Path(argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
