"""Typing through a line on the real model: prefix-cache reuse and latency per request, with
and without repository context.

For a few holes of a repository (the ``codeslm eval repo`` choice, same seed), the hidden line
is typed a few characters at a time; after each step the prompt the engine would send is
generated (4 tokens, as the first tokens of a suggestion) and the backend reports how many
prompt tokens came from its KV cache. The first request of each line is cold (the cache is
flushed before it). Prints per mode: requests, cold and warm latency p50/p95, and the share
of prompt tokens reused on warm requests, with the machine and the commit.

Usage: python benchmarks/context_typing.py REPO [--holes 5] [--step 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from context_index import commit, machine, pct

from codeslm.completion.request import CompletionOptions
from codeslm.config import Config
from codeslm.context.index import WorkspaceIndex
from codeslm.context.provider import WorkspaceProvider
from codeslm.evaluation.repo import pick_holes
from codeslm.session import open_session
from codeslm.types import CompletionMode, Document, GenerationRequest, Position


async def run(args: argparse.Namespace) -> None:
    config = Config()
    config.completion.latency_budget_ms = 0
    with tempfile.TemporaryDirectory() as tmp:
        index = WorkspaceIndex.open(args.repo, config.context, db_path=Path(tmp) / "i.sqlite")
        index.refresh()
        holes = pick_holes(index, count=args.holes, seed=args.seed)
        session = open_session(config)
        backend = session.backend
        provider = WorkspaceProvider(index, config)
        engines = {"none": session.engine, "repo": session.engine_with(provider)}
        rows: dict[str, list[tuple[bool, float, int, int]]] = {m: [] for m in engines}
        for hole in holes:
            text = (index.root / hole.path).read_text(encoding="utf-8")
            lines = text.split("\n")
            start = sum(len(x) + 1 for x in lines[: hole.line]) + hole.indent
            end = start + len(hole.target)
            for mode, engine in engines.items():
                provider.forget_region()
                await backend.generate(GenerationRequest(prompt="\n", max_tokens=1))
                for k in range(0, len(hole.target), args.step):
                    typed = text[:start] + hole.target[:k] + text[end:]
                    doc = Document(typed, str(index.root / hole.path),
                                   index.entries[hole.path].language)
                    provider.update_document(doc.path or "", typed)
                    began = time.perf_counter()
                    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, max_tokens=4)
                    plan = await engine.plan(doc, Position(hole.line, hole.indent + k), options)
                    result = await backend.generate(plan.request)
                    took = time.perf_counter() - began
                    usage = result.usage
                    rows[mode].append((k == 0, took, usage.prompt_tokens or 0,
                                       usage.cached_prompt_tokens or 0))
            provider.remove_document(index.root / hole.path)
        await session.aclose()
        index.close()
    print(f"machine: {machine()}\ncommit:  {commit()}\nrepo:    {args.repo.name}, "
          f"{len(holes)} lines typed {args.step} characters at a time, model {config.model}, "
          f"context budget {config.context.budget_tokens}")
    for mode, data in rows.items():
        cold = [t for first, t, _, _ in data if first]
        warm = [(t, p, c) for first, t, p, c in data if not first]
        reuse = sum(c for _, _, c in warm) / max(1, sum(p for _, p, _ in warm))
        tail = statistics.median(p - c for _, p, c in warm) if warm else 0
        if not warm:  # every line was shorter than one step: nothing typed after the first
            print(f"  {mode:5} {len(data):3d} requests; cold p50 {pct(cold, .5):.2f} s; no warm "
                  "requests (use a smaller --step)")
            continue
        print(f"  {mode:5} {len(data):3d} requests; cold p50 {pct(cold, .5):.2f} s; warm p50 "
              f"{pct([t for t, _, _ in warm], .5):.2f} s, p95 "
              f"{pct([t for t, _, _ in warm], .95):.2f} s; prompt "
              f"{statistics.fmean(p for _, p, _ in warm):.0f} tokens, reused {reuse:.1%} "
              f"(median new tokens per request {tail:.0f})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", type=Path)
    ap.add_argument("--holes", type=int, default=5)
    ap.add_argument("--step", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    asyncio.run(run(ap.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
