"""Does KV insertion cost quality? HumanEval single-line holes typed into, side by side.

For each task of a seeded sample, the engine first completes at the hole's empty line (this
fills the KV cache, as the moment before the user types), then the user types the hole line's
indentation and its first ``--typed`` characters and the engine completes again. That second
completion is scored by the task's tests (program = prompt + typed + completion + suffix). With
``kv_reuse = "insert"`` the second prompt reuses the cached text after the cursor, computed
before the characters were typed; with ``"prefix"`` it is evaluated exactly. Mode
``partial`` is ``insert`` after a cancelled request: the first completion is cancelled halfway
through the text after the cursor (a keystroke came while it was evaluated), so the typed one
reuses that evaluated half, shifted, and evaluates the rest (995f4e8's approximation). The
modes run in one process, each with its own in-process backend, on the same tasks.

A mode may name its own refresh (tokens after the edit evaluated again): ``insert@32`` runs
``insert`` with 32, so two refreshes compare side by side in one run; a bare mode uses
``--refresh`` (default: the engine's auto rule). ``--json`` writes each task's result per mode.

Usage: python benchmarks/kv_insertion_humaneval.py [--limit 200] [--seed 1] [--typed 3]
    [--modes prefix insert insert@32 partial]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, percentile

from codeslm.backends import kvreuse, llamacpp_model
from codeslm.completion.request import CompletionOptions
from codeslm.config import load_config
from codeslm.documents import position_at
from codeslm.evaluation.humaneval_data import build_tasks, sample
from codeslm.evaluation.sandbox import run_program
from codeslm.runtime.models.resolve import resolve
from codeslm.session import open_session
from codeslm.types import CompletionMode, Document


def typed_part(canonical: str, chars: int) -> str:
    first = canonical.split("\n", 1)[0]
    indent = len(first) - len(first.lstrip(" \t"))
    return first[: indent + chars]


class CancelMidSuffix:
    """Replaces ``llm.eval`` for one request: evaluates up to halfway through the text after
    ``<|fim_suffix|>``, then raises llama.cpp's cancellation, as a keystroke would."""

    def __init__(self, llm: Any, suffix_id: int) -> None:
        self.llm, self.suffix_id, self.evaluate = llm, suffix_id, llm.eval
        self.cut = False

    def __call__(self, tokens: Any) -> None:
        tokens = list(tokens)
        if self.suffix_id not in tokens:  # a plan inserting before the suffix: no cut here
            self.evaluate(tokens)
            return
        at = tokens.index(self.suffix_id)
        self.evaluate(tokens[: at + (len(tokens) - at) // 2])
        self.cut = True
        raise llamacpp_model.Cancelled

    async def around(self, work: Any) -> None:
        self.llm.eval = self
        try:
            await work
        finally:
            del self.llm.eval


def split_mode(spec: str, refresh: int) -> tuple[str, int]:
    """``"insert@32"`` -> ``("insert", 32)``; a bare mode keeps ``refresh``."""
    mode, _, own = spec.partition("@")
    return mode, int(own) if own else refresh


async def run_mode(spec: str, model: str, tasks, chars: int, refresh: int):  # type: ignore[no-untyped-def]
    mode, refresh = split_mode(spec, refresh)
    config = load_config({"model": model}).config
    config.completion.kv_reuse = "insert" if mode == "partial" else mode
    config.completion.kv_refresh_tokens = refresh
    config.completion.latency_budget_ms = 0
    config.backend, config.model = "embedded", str(resolve(model).path)  # in-process llama.cpp
    session = open_session(config)
    backend: Any = session.backend  # LlamaCppBackend: its insertions are counted
    engine = session.engine
    passed, latencies, evaluated, cut = [], [], [], 0
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, use_context=False,
                                use_cache=False)
    try:
        for task in tasks:
            typed = typed_part(task.canonical_solution, chars)
            empty = Document(task.prompt + "\n" + task.suffix, None, "python")
            first = engine.complete(empty, position_at(empty.text, len(task.prompt)), options)
            if mode == "partial":
                llm = backend._ensure_loaded()
                [suffix_id] = backend.tokenize_sync("<|fim_suffix|>")
                cancel = CancelMidSuffix(llm, suffix_id)
                await cancel.around(first)
                cut += cancel.cut
            else:
                await first
            doc = Document(task.prompt + typed + "\n" + task.suffix, None, "python")
            c = await engine.complete(
                doc, position_at(doc.text, len(task.prompt) + len(typed)), options)
            middle = typed + c.text + "\n"
            result = await asyncio.get_running_loop().run_in_executor(
                None, lambda m=middle, t=task: run_program(t.program(m), timeout_s=10))
            passed.append(result.passed)
            latencies.append(c.latency_s)
            evaluated.append(float((c.prompt_tokens or 0) - (c.cached_prompt_tokens or 0)))
    finally:
        await session.aclose()
    if mode == "partial":
        print(f"# partial: {cut} of {len(tasks)} first requests cancelled mid-suffix", flush=True)
    print(f"# {spec}: refresh {backend.cache.refresh}", flush=True)
    return passed, latencies, evaluated, backend.insertions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--typed", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["prefix", "insert"])
    parser.add_argument("--refresh", type=int, default=-1,
                        help="tokens after the edit evaluated again; -1: the engine's auto rule")
    parser.add_argument("--json", help="each task's result per mode, to this file")
    parser.add_argument("--max-steps", type=int, default=kvreuse.MAX_STEPS,
                        help="edits one plan may span (1: single insertions only, as before "
                        "8d880ef)")
    args = parser.parse_args()
    kvreuse.MAX_STEPS = args.max_steps
    tasks = sample(build_tasks("single-line"), args.limit, args.seed)
    print(f"# KV insertion quality: HumanEval single-line, {len(tasks)} tasks (seed {args.seed}),"
          f" {args.typed} characters typed into the hole, plans of at most {args.max_steps} "
          f"edits  commit {git_commit()}  {args.model}")
    print(f"# machine: {machine()}")
    results = {}
    for mode in args.modes:
        started = time.perf_counter()
        results[mode] = asyncio.run(run_mode(mode, args.model, tasks, args.typed, args.refresh))
        passed, lat, ev, ins = results[mode]
        print(f"{mode:>9}: pass@1 {sum(passed) / len(passed):.3f} ({sum(passed)}/{len(passed)})"
              f"  typed-keystroke latency p50 {percentile(lat, 50):.2f} s p95 "
              f"{percentile(lat, 95):.2f} s  tokens evaluated p50 {percentile(ev, 50):.0f}"
              f"  insertions {ins}  ({time.perf_counter() - started:.0f} s)", flush=True)
    modes = list(results)
    for i, a in enumerate(modes):
        for b in modes[i + 1 :]:
            ra, rb = results[a][0], results[b][0]
            only_a = sum(1 for x, y in zip(ra, rb, strict=True) if x and not y)
            only_b = sum(1 for x, y in zip(ra, rb, strict=True) if y and not x)
            print(f"# passed only with {a}: {only_a}; only with {b}: {only_b}")
    print(f"# load after: {machine().split('load avg ')[1]}")
    if args.json:
        rows = {mode: [{"task": t.task_id, "passed": p} for t, p in zip(tasks, r[0], strict=True)]
                for mode, r in results.items()}
        Path(args.json).write_text(json.dumps({"seed": args.seed, "modes": rows}, indent=1))


if __name__ == "__main__":
    main()
