"""A completion's latency while other programs keep the cores busy: fixed vs adaptive threads.

llama.cpp's threads wait for each other at every step, so when another program holds a core
the step waits for a thread that is not running. This runs the same FIM request (a ~400-token
prompt, the cache cleared each time, 16 tokens generated) on the embedded backend with
``adaptive_threads`` off (always the configured threads) and on (the cores others leave free,
:mod:`codeslm.backends.threads`), side by side in one process, with 0, 1 and 2 busy processes
(``while True: pass``) started by the benchmark beside whatever else the machine runs.

Usage: python benchmarks/threads_under_load.py [--model NAME] [--trials 5] [--busy 0 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import git_commit, machine, percentile

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.runtime.models.resolve import resolve
from codeslm.types import GenerationRequest


def prompt() -> str:
    source = Path(textwrap.__file__).read_text()
    cut = source.index("def wrap(")
    return ("<|fim_prefix|>" + source[cut - 1400 : cut + 60] + "<|fim_suffix|>"
            + source[cut + 60 : cut + 300] + "<|fim_middle|>")


async def trial(backend: LlamaCppBackend, text: str) -> float:
    llm = backend._ensure_loaded()
    llm.reset()  # a cold prompt every time: the prefill is what suffers most
    import llama_cpp

    llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm._ctx.ctx), True)
    started = time.perf_counter()
    await backend.generate(GenerationRequest(prompt=text, max_tokens=16, temperature=0.0))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    path = resolve(args.model).path
    text = prompt()
    backends = {}
    for mode in (False, True):
        config = Config(model=str(path), n_ctx=2048, adaptive_threads=mode)
        config.completion.kv_reuse = "prefix"  # with the cache cleared: a cold prompt each time
        backends[mode] = LlamaCppBackend(config, model_path=path)
    tokens = len(backends[False].tokenize_sync(text))
    print(f"# threads under load: {args.model}, {tokens}-token prompt, 16 tokens, "
          f"{args.trials} trials  commit {git_commit()}")
    print(f"# machine: {machine()}")
    print("| busy processes added | fixed threads p50 / p95 | adaptive p50 / p95 | adaptive "
          "ran with fewer threads |")
    print("|---|---|---|---|")
    for busy in args.busy:
        spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    for _ in range(busy)]
        time.sleep(1.0)
        try:
            times: dict[bool, list[float]] = {False: [], True: []}
            before = backends[True].threads.reduced
            for _ in range(args.trials):  # interleaved, so drifting load hits both alike
                for mode, backend in backends.items():
                    times[mode].append(asyncio.run(trial(backend, text)))
            reduced = backends[True].threads.reduced - before
        finally:
            for p in spinners:
                p.kill()
                p.wait()
        fixed, adaptive = times[False], times[True]
        print(f"| {busy} | {percentile(fixed, 50):.2f} s / {percentile(fixed, 95):.2f} s | "
              f"{percentile(adaptive, 50):.2f} s / {percentile(adaptive, 95):.2f} s | "
              f"{reduced} of {args.trials} |", flush=True)
    print(f"# load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
