"""What planning KV reuse costs per keystroke: ``kvreuse.plan_for`` on a real prompt.

The prompt is json/decoder.py around ``def JSONObject(`` in Qwen2.5-Coder's FIM layout
(3,000 characters before the cursor, 1,000 after), tokenized by the default model's
vocabulary; the keystroke types one character before ``<|fim_suffix|>``. 300 calls after one
untimed call (which finds the model's FIM sentinels); p50 and p95 in microseconds.

    python benchmarks/plan_overhead.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, percentile

from codeslm.backends import kvreuse, llamacpp_model
from codeslm.runtime.models.resolve import resolve

CALLS = 300


def prompt(text: str, cut: int, extra: str) -> str:
    before, after = text[cut - 3000 : cut], text[cut : cut + 1000]
    return f"<|fim_prefix|>{before}{extra}<|fim_suffix|>{after}<|fim_middle|>"


def main() -> None:
    llama_cpp = llamacpp_model.import_llama()
    path = resolve("qwen2.5-coder-0.5b").path
    llm = llama_cpp.Llama(str(path), vocab_only=True, verbose=False)
    text = (Path(json.__file__).parent / "decoder.py").read_text()
    cut = text.index("def JSONObject(") + 400
    old = llamacpp_model.tokenize(llm, prompt(text, cut, "    pai"))
    new = llamacpp_model.tokenize(llm, prompt(text, cut, "    pair"))
    steps = kvreuse.plan_for(llm, old, new, 8)
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        kvreuse.plan_for(llm, old, new, 8)
        times.append((time.perf_counter() - started) * 1e6)
    print(f"# plan_for on a {len(new)}-token prompt, {len(steps)} step(s)  commit {git_commit()}")
    print(f"# machine: {machine()}")
    print(f"plan_for: p50 {percentile(times, 50):.0f} us, p95 {percentile(times, 95):.0f} us")


if __name__ == "__main__":
    main()
