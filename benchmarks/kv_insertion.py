"""KV reuse while typing, side by side: prefix reuse, KV insertion, and a short suffix.

The same positions as ``latency.py`` (a real standard-library line cut at the cursor); at each
one the user types the real next characters one at a time and *every* keystroke asks the model
(no typed-ahead or prompt cache), so each mode pays for exactly the prompts it builds. Modes,
each with its own in-process backend, run one after another in one process:

- ``prefix``: llama.cpp's prefix reuse only (what shipped before);
- ``insert``: KV insertion (:mod:`codeslm.backends.kvreuse`), the text after the cursor reused;
- ``insert+R``: KV insertion with the first R tokens after the edit evaluated again;
- ``suffix300``: prefix reuse with a 300-character suffix window (route (b): a short,
  cheaply re-evaluated suffix).

Reported per mode: model-call latency p50/p95 of keystrokes after the first, prompt tokens
evaluated per keystroke, how often the completion agrees with the ``prefix`` mode's (exact
prompt evaluation) and how often it is a prefix of the real rest of the line.

Usage: python benchmarks/kv_insertion.py [--positions 8] [--keystrokes 6] [--modes ...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, peak_rss_mb, percentile
from latency import cut_document, pick_spots

from codeslm.completion.request import CompletionOptions
from codeslm.config import load_config
from codeslm.runtime.models.resolve import resolve
from codeslm.session import open_session


def mode_config(model: str, mode: str):  # type: ignore[no-untyped-def]
    config = load_config({"model": model}).config
    config.completion.latency_budget_ms = 0  # fixed token limits: same work in every mode
    config.completion.retries = 0
    if mode == "prefix" or mode == "suffix300":
        config.completion.kv_reuse = "prefix"
    elif mode.startswith("insert"):
        config.completion.kv_reuse = "insert"
        config.completion.kv_refresh_tokens = int(mode.partition("+")[2] or 0)
    if mode == "suffix300":
        config.completion.suffix_chars = 300
    return config


async def run_mode(model: str, mode: str, spots, keystrokes: int):  # type: ignore[no-untyped-def]
    config = mode_config(model, mode)
    config.backend, config.model = "embedded", str(resolve(model).path)  # in-process llama.cpp
    session = open_session(config)
    engine = session.engine
    rows = []
    try:
        await session.backend.health()
        for spot in spots:
            for k in range(keystrokes + 1):
                doc, pos = cut_document(spot, spot.rest[:k])
                c = await engine.complete(doc, pos, CompletionOptions(use_cache=False))
                evaluated = (c.prompt_tokens or 0) - (c.cached_prompt_tokens or 0)
                rows.append((k, c.latency_s, evaluated, c.text, spot.rest[k:]))
    finally:
        await session.aclose()
    return rows


def report(mode: str, rows, reference) -> None:  # type: ignore[no-untyped-def]
    later = [r for r in rows if r[0] > 0]
    lat = [r[1] for r in later]
    evaluated = [float(r[2]) for r in later]
    agree = sum(1 for r, ref in zip(rows, reference, strict=True) if r[3] == ref[3])
    right = sum(1 for r in rows if r[3].strip() and r[4].startswith(r[3].rstrip()))
    print(f"{mode:>10}: keystroke p50 {percentile(lat, 50):.2f} s  p95 {percentile(lat, 95):.2f} s"
          f"  | tokens evaluated p50 {percentile(evaluated, 50):.0f} p95 "
          f"{percentile(evaluated, 95):.0f}  | same as prefix {agree}/{len(rows)}"
          f"  | prefix of the real line {right}/{len(rows)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--positions", type=int, default=8)
    parser.add_argument("--keystrokes", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", nargs="+", default=["prefix", "insert", "insert+8",
                                                       "suffix300"])
    args = parser.parse_args()
    spots = pick_spots(args.positions, args.seed)
    print(f"# KV reuse while typing  commit {git_commit()}  model {args.model}")
    print(f"# machine: {machine()}")
    print(f"# {len(spots)} positions, {args.keystrokes} keystrokes each, every keystroke a "
          "model call (no completion caches)")
    results = {mode: asyncio.run(run_mode(args.model, mode, spots, args.keystrokes))
               for mode in args.modes}
    reference = results.get("prefix") or next(iter(results.values()))
    for mode, rows in results.items():
        report(mode, rows, reference)
    print(f"# peak RSS {peak_rss_mb():.0f} MiB; load after: {machine().split('load avg ')[1]}")


if __name__ == "__main__":
    main()
