"""Moving the cursor a few lines: what the model call evaluates, with and without KV insertion.

At real standard-library lines (``latency.py``'s positions), the engine completes mid-line,
then the cursor moves to other lines nearby (down 1, 2, 3, up 2, down 6, down 10 lines, each
move from the last place) and every place is a model call (no completion caches). Modes, each
with its own in-process backend, one after another in one process: ``prefix`` (llama.cpp's
prefix reuse: exact) and ``insert`` (KV insertion, the default). Moves of more than 3 lines
are a new place, which gets the engine's quick first window.

Reported per mode and move: prompt tokens evaluated p50, model-call latency p50 / p95, how
often the completion equals the ``prefix`` mode's (what an exact evaluation gives), and the
insertions the backend made. ``--prefix-chars`` smaller than the default makes the window's
start move on more often (a step is a quarter of it), which KV insertion reuses as a removal.

Usage: python benchmarks/cursor_moves.py [--positions 8] [--prefix-chars 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, percentile
from latency import pick_spots

from codeslm.completion.request import CompletionOptions
from codeslm.config import load_config
from codeslm.runtime.models.resolve import resolve
from codeslm.session import open_session
from codeslm.types import Document, Position

MOVES = (0, 1, 2, 3, -2, 6, 10)  # lines from the previous place; 0 is the first place


def mid_line(text: str, line: int) -> Position:
    """The middle of ``line``'s code (after its indentation)."""
    raw = text.split("\n")[line]
    body = raw.lstrip(" ")
    return Position(line, len(raw) - len(body) + len(body) // 2)


async def run_mode(model: str, mode: str, spots, moves, prefix_chars: int):  # type: ignore[no-untyped-def]
    config = load_config({"model": model}).config
    config.completion.prefix_chars = prefix_chars
    config.completion.latency_budget_ms = 0  # fixed token limits: same work in every mode
    config.completion.retries = 0
    config.completion.kv_reuse = mode
    config.backend, config.model = "embedded", str(resolve(model).path)  # in-process llama.cpp
    session = open_session(config)
    rows = []
    try:
        await session.backend.health()
        for spot in spots:
            doc = Document(spot.text, str(spot.path), "python")
            line = spot.line
            for move in moves:
                line += move
                c = await session.engine.complete(
                    doc, mid_line(spot.text, line), CompletionOptions(use_cache=False)
                )
                evaluated = (c.prompt_tokens or 0) - (c.cached_prompt_tokens or 0)
                rows.append((move, c.latency_s, evaluated, c.text))
        insertions = getattr(session.backend, "insertions", None)
    finally:
        await session.aclose()
    print(f"# {mode}: {insertions} KV insertions")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--positions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--prefix-chars", type=int, default=3000)
    args = parser.parse_args()
    spots = pick_spots(args.positions, args.seed)
    print(f"# cursor moves  commit {git_commit()}  model {args.model}  prefix window "
          f"{args.prefix_chars} characters")
    print(f"# machine: {machine()}")
    results = {mode: asyncio.run(run_mode(args.model, mode, spots, MOVES, args.prefix_chars))
               for mode in ("prefix", "insert")}
    for mode, rows in results.items():
        for move in MOVES:
            mine = [r for r in rows if r[0] == move]
            ref = [r for r in results["prefix"] if r[0] == move]
            same = sum(a[3] == b[3] for a, b in zip(mine, ref, strict=True))
            lat = [r[1] for r in mine]
            tokens = [float(r[2]) for r in mine]
            print(f"{mode:>7} move {move:+3d}: evaluated p50 {percentile(tokens, 50):5.0f}  "
                  f"latency p50 {percentile(lat, 50):.2f} s p95 {percentile(lat, 95):.2f} s  "
                  f"same as prefix {same}/{len(mine)}")
    print(f"# load after: {machine().split('load avg ')[1]}")


if __name__ == "__main__":
    main()
