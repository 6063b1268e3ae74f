"""What the first-identifier constraint (monitor-guided decoding) costs on the embedded backend.

On a real tree (default: the standard library of the running interpreter), finds positions
right after ``receiver.`` where the context builder knows the receiver's whole member set,
and completes each one twice, side by side in one run: with the constraint and without it
(same prompt, cold KV cache each time). Prints the one-time cost of indexing the vocabulary by
text, latency p50/p95 of both, how often the first name differs, and how often the
unconstrained model started with a name the receiver does not have.

Usage: python benchmarks/member_constraint.py [ROOT] [--positions 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import re
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, peak_rss_mb, summary

_DOT = re.compile(r"\b[A-Za-z_]\w*\.(?=[A-Za-z_])")
_IDENT = re.compile(r"[A-Za-z_]\w*")


async def run(root: Path, positions: int, seed: int) -> None:
    from codeslm.completion.request import CompletionOptions
    from codeslm.config import Config
    from codeslm.documents import language_for
    from codeslm.session import open_session
    from codeslm.types import CompletionMode, Document, GenerationRequest, Position

    config = Config(backend="embedded")  # in-process llama.cpp: its token table is timed
    config.completion.latency_budget_ms = 0
    session = open_session(config, root)
    provider = session.workspace
    assert provider is not None
    backend: Any = session.backend
    engine = session.engine
    rng = random.Random(seed)
    files = sorted(p for p, e in provider.index.entries.items() if e.language == "python")
    plans = []
    tries = 0
    while len(plans) < positions and tries < 50 * positions:
        tries += 1
        rel = rng.choice(files)
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        dots = [m.end() for m in _DOT.finditer(text)]
        if not dots:
            continue
        offset = rng.choice(dots)
        end = text.find("\n", offset)
        text = text[:offset] + (text[end:] if end >= 0 else "")
        line = text.count("\n", 0, offset)
        column = offset - (text.rfind("\n", 0, offset) + 1)
        doc = Document(text, str(root / rel), language_for(rel))
        provider.forget_region()
        options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, max_tokens=24)
        plan = await engine.plan(doc, Position(line, column), options)
        if plan.request.first_identifier:
            plans.append(plan)

    await backend.generate(GenerationRequest(prompt="\n", max_tokens=1))  # load the model
    llm = backend._ensure_loaded()
    started = time.perf_counter()
    backend._tokens_by_text(llm)
    table_s = time.perf_counter() - started

    timed: dict[bool, list[float]] = {True: [], False: []}
    differ = invented = 0
    for number, plan in enumerate(plans):
        texts = {}
        order = (True, False) if number % 2 else (False, True)  # alternate which goes first
        for constrained in order:
            request = plan.request if constrained else dataclasses.replace(
                plan.request, first_identifier=())
            await backend.generate(GenerationRequest(prompt="\n", max_tokens=1))  # cold cache
            started = time.perf_counter()
            result = await backend.generate(request)
            timed[constrained].append(time.perf_counter() - started)
            texts[constrained] = result.text
        first = {k: (_IDENT.match(v) or [""])[0] for k, v in texts.items()}
        differ += first[True] != first[False]
        allowed = set(plan.request.first_identifier)
        invented += first[False] != "" and first[False] not in allowed
    await session.aclose()

    print(f"machine: {machine()}")
    print(f"commit:  {git_commit()}")
    print(f"tree:    {root}; {len(plans)} positions after receiver. with a whole member set "
          f"({tries} positions tried)")
    print(f"vocabulary indexed by text (once per model): {table_s:.2f} s")
    print(f"with the constraint:    {summary(timed[True])}")
    print(f"without the constraint: {summary(timed[False])}")
    print(f"first name differs: {differ} of {len(plans)}; unconstrained first name not a "
          f"member of the receiver: {invented} of {len(plans)}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    ap.add_argument("--positions", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    asyncio.run(run(args.root, args.positions, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
