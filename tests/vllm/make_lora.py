"""Write a tiny PEFT LoRA adapter for a Hugging Face model folder (a test helper).

Run with the vLLM environment's Python (torch, transformers, peft)::

    python make_lora.py MODEL_DIR OUT_DIR

Rank 8 on the attention projections, with random (not zero) B matrices and a fixed seed, so
that answers through the adapter differ from the base model's: vLLM must load it and apply it.
"""

from __future__ import annotations

import sys


def main(model_dir: str, out_dir: str) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    config = LoraConfig(
        r=8,
        lora_alpha=16,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    get_peft_model(model, config).save_pretrained(out_dir)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
