"""What a `codeslm tune` adapter learned, on its own training examples.

For an adapter folder (``<cache>/adapters/<repo>/<sha>``) and the examples beside it
(``<sha>.work/examples.jsonl``), this replays the training order (the same tokenization,
length filter and seeded shuffle as ``codeslm.tune.train``) to tell the examples the run
*reached* (trained on once) from those it did not (same training files, never a step). On
``--examples`` of each it reports:

- the loss of the base model and of base + adapter (PEFT, torch), split into the hidden
  text's tokens and the end-of-text token the target ends with;
- the first line the model writes, greedily, through llama.cpp with and without the GGUF
  adapter (and, with ``--peft-answers``, through torch + PEFT, to check that the GGUF
  conversion applies what was trained): how many equal the hidden line.

Held-out files are not scored here; ``codeslm eval repo --adapter`` does that.

    python benchmarks/adapter_check.py ~/.cache/codeslm/adapters/mcp-1.3.0-<hash>/<sha> \
        --examples 16
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import git_commit, machine  # noqa: E402

from codeslm.tune.base import resolve_base  # noqa: E402
from codeslm.tune.train import TrainSettings  # noqa: E402

Example = tuple[list[int], list[int], dict[str, Any]]  # prompt ids, target ids, the row


def load_examples(adapter: Path, tokenizer: Any, max_tokens: int) -> list[Example]:
    """The training examples in the order ``codeslm.tune.train`` filters them."""
    eos = tokenizer.encode("<|endoftext|>", add_special_tokens=False)[0]
    work = adapter.with_name(adapter.name + ".work")
    data = []
    for line in (work / "examples.jsonl").read_text().splitlines():
        row = json.loads(line)
        prompt = tokenizer.encode(row["prompt"], add_special_tokens=False)
        target = [*tokenizer.encode(row["target"], add_special_tokens=False), eos]
        if len(prompt) + len(target) <= max_tokens:
            data.append((prompt, target, row))
    return data


def split_reached(count: int, steps: int, seed: int) -> tuple[list[int], list[int]]:
    """Indices the run trained on (its first ``steps`` of epoch 0's order) and the rest."""
    order = list(range(count))
    random.Random(seed * 1000).shuffle(order)
    return order[:steps], order[steps:]


def losses(model: Any, example: Example) -> tuple[float, float]:
    """(mean loss on the hidden text's tokens, loss on the end token)."""
    import torch

    prompt, target, _ = example
    ids = torch.tensor([prompt + target])
    with torch.no_grad():
        logits = model(input_ids=ids, logits_to_keep=len(target) + 1).logits[0, :-1]
    each = torch.nn.functional.cross_entropy(
        logits.float(), ids[0, -len(target) :], reduction="none"
    )
    return float(each[:-1].mean()), float(each[-1])


def first_line_llama(gguf: Path, lora: Path | None, examples: list[Example]) -> list[str]:
    """The first line llama.cpp writes for each prompt, greedily."""
    import llama_cpp

    llm = llama_cpp.Llama(str(gguf), n_ctx=4096, n_threads=2, verbose=False,
                          lora_path=str(lora) if lora else None)
    lines = []
    for prompt, _, _ in examples:
        llm.reset()
        text = ""
        for token in llm.generate(prompt, temp=0, top_k=1):
            if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token) or "\n" in text:
                break
            text += llm.detokenize([token]).decode(errors="replace")
            if len(text) > 200:
                break
        lines.append(text.split("\n")[0].strip())
    llm.close()
    return lines


def first_line_peft(model: Any, tokenizer: Any, examples: list[Example]) -> list[str]:
    import torch

    lines = []
    for prompt, _, _ in examples:
        with torch.no_grad():
            out = model.generate(input_ids=torch.tensor([prompt]), max_new_tokens=40,
                                 do_sample=False)
        text = tokenizer.decode(out[0, len(prompt) :]).split("<|endoftext|>")[0]
        lines.append(text.split("\n")[0].strip())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapter", type=Path, help="the adapter folder")
    parser.add_argument("--examples", type=int, default=16, help="of each group")
    parser.add_argument("--peft-answers", action="store_true",
                        help="also generate through torch + PEFT (slow on a CPU)")
    args = parser.parse_args()
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    info = json.loads((args.adapter / "codeslm-adapter.json").read_text())
    base = resolve_base(info["base_name"])
    assert base.gguf is not None
    tokenizer = AutoTokenizer.from_pretrained(str(base.folder))
    data = load_examples(args.adapter, tokenizer, TrainSettings().max_seq_tokens)
    reached, rest = split_reached(len(data), int(info["steps"]), TrainSettings().seed)
    groups = {"trained on": reached[: args.examples], "not reached": rest[: args.examples]}
    started = time.monotonic()
    print(f"# {args.adapter} ({info['steps']} steps, {info['minutes']} min, "
          f"{len(data)} examples); commit {git_commit()}")
    print(f"# machine: {machine()}")
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(base.folder), dtype=torch.bfloat16),
        str(args.adapter),
    )
    model.eval()
    for name, idx in groups.items():
        pairs = []
        for i in idx:
            with model.disable_adapter():
                before = losses(model, data[i])
            pairs.append((before, losses(model, data[i])))
        for k, part in ((0, "hidden text"), (1, "end token")):
            b = sum(p[0][k] for p in pairs) / len(pairs)
            a = sum(p[1][k] for p in pairs) / len(pairs)
            lower = sum(p[1][k] < p[0][k] for p in pairs)
            print(f"{name}, loss on the {part}: base {b:.3f}, adapter {a:.3f} "
                  f"(lower on {lower} of {len(pairs)})")
    peft_lines: dict[str, list[str]] = {}
    if args.peft_answers:
        peft_lines = {n: first_line_peft(model, tokenizer, [data[i] for i in idx])
                      for n, idx in groups.items()}
    del model
    for name, idx in groups.items():
        chosen = [data[i] for i in idx]
        truth = [e[2]["target"].split("\n")[0].strip() for e in chosen]
        plain = first_line_llama(base.gguf, None, chosen)
        tuned = first_line_llama(base.gguf, args.adapter / "adapter.gguf", chosen)
        exact = [sum(a == t for a, t in zip(lines, truth, strict=True)) for lines in (plain, tuned)]
        print(f"{name}, first line exact through llama.cpp: base {exact[0]}, adapter {exact[1]} "
              f"of {len(chosen)}")
        if name in peft_lines:
            same = sum(a == b for a, b in zip(peft_lines[name], tuned, strict=True))
            print(f"{name}: the GGUF adapter writes the PEFT adapter's first line on {same} "
                  f"of {len(chosen)}")
    print(f"# {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
