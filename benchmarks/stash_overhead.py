"""What the prompt stash's check costs on every model request (``kvstash.PromptStash.switch``).

Before each request the llama.cpp backend asks the stash whether a stashed cache fits the new
prompt better than the one llama.cpp holds. On a keystroke the answer is no (the held cache
fits), so this is pure overhead: reading the held tokens and comparing prefixes with every
entry. Measured here without a model (the check never touches llama.cpp when it answers no):
a held prompt of N tokens, the new prompt differing in its last token, full stash.

Usage: python benchmarks/stash_overhead.py [--tokens 1000 2000 4000] [--slots 2 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, percentile

from codeslm.backends.kvstash import Entry, PromptStash


def measure(tokens: int, slots: int, calls: int) -> list[float]:
    rng = random.Random(tokens * 31 + slots)
    held = [rng.randrange(150_000) for _ in range(tokens)]
    ids = np.zeros(8192, dtype=np.intc)
    ids[:tokens] = held
    llm = SimpleNamespace(input_ids=ids, n_tokens=tokens)  # what the check reads of a Llama
    stash = PromptStash(slots)
    # Entries sharing a half, a quarter... of the prompt: the comparisons run that far.
    stash.entries = [
        Entry(held[: tokens // (2 + i)] + [rng.randrange(150_000) for _ in range(tokens // 2)],
              None, b"", 0)
        for i in range(slots)
    ]
    new = [*held[:-1], held[-1] + 1]  # a keystroke: the same prompt but its end
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        stash.switch(llm, new, held)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--slots", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    print(f"# prompt stash check per request  commit {git_commit()}")
    print(f"# machine: {machine()}")
    for slots in args.slots:
        for tokens in args.tokens:
            us = [t * 1e6 for t in measure(tokens, slots, args.calls)]
            print(f"slots {slots}, held prompt {tokens:5d} tokens: p50 {percentile(us, 50):6.0f} us"
                  f"  p95 {percentile(us, 95):6.0f} us")


if __name__ == "__main__":
    main()
