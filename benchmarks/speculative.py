"""Prompt-lookup (n-gram) speculative decoding on the embedded llama.cpp backend: with vs without.

Completions of HumanEval infilling holes (the editor layout of ``codeslm eval humaneval``) are
requested through the real engine, in benchmark order, once per configuration:

- ``none``: plain greedy decoding;
- ``ngram``: ``completion.speculative = "ngram"`` (llama-cpp-python's
  ``LlamaPromptLookupDecoding``; ``--draft-tokens`` sets how many tokens it proposes).

Multi-line holes run without early stop (so the model writes its full ``--max-tokens`` and,
like real code, copies identifiers and lines from the prompt); single-line holes run as the
engine runs them. Reported per configuration: end-to-end latency p50/p95, time to first
token, decode tokens/s, and how often the output equals the plain greedy output.

Usage: python benchmarks/speculative.py [--model NAME] [--tasks 30] [--draft-tokens 2 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, peak_rss_mb, percentile

from codeslm.completion.request import CompletionOptions
from codeslm.config import Config
from codeslm.documents import position_at
from codeslm.evaluation.humaneval_data import build_tasks, sample
from codeslm.runtime.models.resolve import resolve
from codeslm.session import open_session
from codeslm.types import CompletionMode, Document


async def run_config(path: Path, draft_tokens: int | None, kind: str, tasks: list,
                     max_tokens: int) -> list[dict]:
    config = Config(model=str(path), n_ctx=4096, backend="embedded")  # in-process llama.cpp
    config.completion.latency_budget_ms = 0
    config.completion.speculative = "none" if draft_tokens is None else "ngram"
    session = open_session(config)
    backend: Any = session.backend  # LlamaCppBackend: its history and model are read below
    await backend.model_info()
    if draft_tokens is not None:
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

        backend._llm.draft_model = LlamaPromptLookupDecoding(num_pred_tokens=draft_tokens)
    engine = session.engine
    mode = CompletionMode.SINGLE_LINE if kind == "single-line" else CompletionMode.MULTI_LINE
    rows = []
    for task in tasks:
        text = task.prompt + "\n" + task.suffix
        document = Document(text, "humaneval.py", "python")
        backend.history.clear()
        started = time.perf_counter()
        options = CompletionOptions(mode=mode, max_tokens=max_tokens, use_cache=False,
                                    early_stop=kind == "single-line")
        completion = await engine.complete(document, position_at(text, len(task.prompt)), options)
        total = time.perf_counter() - started
        # An early-stopped stream is recorded by the worker once it has drained.
        for _ in range(600):
            if backend.history:
                break
            await asyncio.sleep(0.05)
        usage = backend.history[-1][1]
        ttft = usage.time_to_first_token_s or 0.0
        tokens = usage.completion_tokens or 0
        rows.append({"total": total, "ttft": ttft, "tokens": tokens, "raw": completion.raw,
                     "tps": (tokens - 1) / (total - ttft) if tokens > 1 and total > ttft else 0})
    await session.aclose()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--draft-tokens", type=int, nargs="+", default=[2, 4])
    args = parser.parse_args()
    path = Path(args.model) if args.model.endswith(".gguf") else resolve(args.model).path
    print(f"machine: {machine()}")
    print(f"codeslm commit {git_commit()}; model {path.name}; {args.tasks} tasks per kind")
    for kind in ("multi-line", "single-line"):
        tasks = sample(build_tasks(kind), args.tasks, args.seed)
        limit = args.max_tokens if kind == "multi-line" else 48
        results = {"none": await run_config(path, None, kind, tasks, limit)}
        for k in args.draft_tokens:
            results[f"ngram, {k} draft tokens"] = await run_config(path, k, kind, tasks, limit)
        plain = [r["raw"] for r in results["none"]]
        print(f"\n{kind} holes (max_tokens {limit}, early stop "
              f"{'on' if kind == 'single-line' else 'off'}):\n")
        print("| decoding | p50 s | p95 s | TTFT p50 s | decode tok/s (mean) | tokens (mean) |"
              " same output as greedy |")
        print("|---|---|---|---|---|---|---|")
        for name, rows in results.items():
            totals = [r["total"] for r in rows]
            same = sum(r["raw"] == p for r, p in zip(rows, plain, strict=True)) / len(rows)
            print(f"| {name} | {percentile(totals, 50):.2f} | {percentile(totals, 95):.2f} | "
                  f"{percentile([r['ttft'] for r in rows], 50):.2f} | "
                  f"{statistics.fmean(r['tps'] for r in rows):.1f} | "
                  f"{statistics.fmean(r['tokens'] for r in rows):.0f} | {same:.0%} |")
    print(f"\npeak RSS {peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
