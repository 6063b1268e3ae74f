"""Completion latency on real files: cold (fresh process) vs warm (the user keeps typing).

Positions are fixed (seeded) lines of the CPython standard library that ships with the
interpreter. For each position the current line is cut at the cursor, as when writing it.

- cold: ``codeslm complete FILE:LINE:COL --json`` in a fresh process (model load included in
  the wall time; the in-process latency is reported separately);
- warm: one process; the user types the next characters of the real line one by one and every
  keystroke asks for a completion. The first request at a position pays for the new prompt;
  the following ones reuse llama.cpp's KV cache for the shared prompt prefix;
- no reuse: the same keystrokes with the KV cache reset before each request, to show what the
  prompt-prefix reuse buys.

Usage: python benchmarks/latency.py [--model NAME] [--positions 8] [--keystrokes 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, git_commit, machine, peak_rss_mb, summary

from codeslm.config import load_config
from codeslm.session import open_session
from codeslm.types import Document, Position

FILES = ["textwrap.py", "json/encoder.py", "argparse.py", "csv.py", "shlex.py",
         "fractions.py", "difflib.py", "statistics.py", "configparser.py", "heapq.py"]


@dataclass(frozen=True)
class Spot:
    path: Path
    line: int  # 0-based
    column: int  # 0-based
    text: str  # the file's text
    rest: str  # the characters of the real line after the cursor


def pick_spots(count: int, seed: int) -> list[Spot]:
    rng = random.Random(seed)
    lib = Path(sysconfig.get_paths()["stdlib"])
    spots = []
    for name in FILES[:count]:
        path = lib / name
        text = path.read_text()
        lines = text.split("\n")
        candidates = [
            i for i, line in enumerate(lines)
            if len(line.strip()) >= 24 and not line.strip().startswith(("#", '"', "'", "@"))
            and i > 20 and "=" in line
        ]
        i = rng.choice(candidates)
        line = lines[i]
        column = line.index("=") + 2 if line.index("=") + 2 < len(line) else len(line) // 2
        spots.append(Spot(path, i, column, text, line[column:]))
    return spots


def cut_document(spot: Spot, typed: str) -> tuple[Document, Position]:
    """The file with the cursor's line cut after the cursor plus ``typed`` characters."""
    lines = spot.text.split("\n")
    head = lines[spot.line][: spot.column] + typed
    lines[spot.line] = head
    return Document("\n".join(lines), str(spot.path), "python"), Position(spot.line, len(head))


def run_cold(spots: list[Spot], model: str) -> tuple[list[float], list[float]]:
    walls, inside = [], []
    for spot in spots:
        doc, pos = cut_document(spot, "")
        tmp = Path("/tmp") / f"codeslm-latency-{spot.path.name}"
        tmp.write_text(doc.text)
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "codeslm", "complete",
             f"{tmp}:{pos.line + 1}:{pos.character + 1}", "--json", "--model", model],
            capture_output=True, text=True, check=True, cwd=REPO)
        walls.append(time.perf_counter() - started)
        inside.append(json.loads(out.stdout)["latency_s"])
        tmp.unlink()
    return walls, inside


async def run_warm(
    spots: list[Spot], model: str, keystrokes: int, *, reuse: bool
) -> dict[str, object]:
    config = load_config({"model": model}).config
    session = open_session(config)
    backend, engine = session.backend, session.engine
    first, warm, warm_model, prompt_tokens, cached_tokens, from_cache = [], [], [], [], [], 0
    try:
        await backend.health()
        for spot in spots:
            for k in range(keystrokes + 1):
                if not reuse:
                    backend._llm.reset()  # type: ignore[attr-defined]  # benchmark-only access
                doc, pos = cut_document(spot, spot.rest[:k])
                completion = await engine.complete(doc, pos)
                (first if k == 0 else warm).append(completion.latency_s)
                if completion.cached:
                    from_cache += 1
                else:
                    if k > 0:
                        warm_model.append(completion.latency_s)
                        # Reuse is measured where it matters: the next keystroke's prompt.
                        prompt_tokens.append(completion.prompt_tokens or 0)
                        cached_tokens.append(completion.cached_prompt_tokens or 0)
    finally:
        await session.aclose()
    return {"first": first, "warm": warm, "warm_model": warm_model, "prompt_tokens": prompt_tokens,
            "cached_tokens": cached_tokens, "from_cache": from_cache}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--positions", type=int, default=8)
    parser.add_argument("--keystrokes", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    spots = pick_spots(args.positions, args.seed)
    print(f"# completion latency  commit {git_commit()}  model {args.model}")
    print(f"# machine: {machine()}")
    print(f"# {len(spots)} positions in the standard library, {args.keystrokes} keystrokes each")
    if not args.skip_cold:
        walls, inside = run_cold(spots, args.model)
        print(f"cold, fresh process (wall, incl. model load): {summary(walls)}")
        print(f"cold, fresh process (completion only):        {summary(inside)}")
    for reuse in (True, False):
        res = asyncio.run(run_warm(spots, args.model, args.keystrokes, reuse=reuse))
        label = "with prefix reuse" if reuse else "KV cache reset each request"
        warm = res["warm"]
        prompt = res["prompt_tokens"]
        cached = res["cached_tokens"]
        mean_prompt = sum(prompt) / max(1, len(prompt))
        mean_cached = sum(cached) / max(1, len(cached))
        print(f"[{label}] new position, warm process:  {summary(res['first'])}")
        print(f"[{label}] keystrokes at the same spot:  {summary(warm)}")
        print(f"[{label}]   of which model calls:       {summary(res['warm_model'])}")
        print(f"[{label}] keystroke prompts: {mean_prompt:.0f} tokens, {mean_cached:.0f} reused "
              f"from the KV cache on average; {res['from_cache']} keystrokes answered from the "
              "completion caches (typed-ahead, LRU)")
    print(f"peak RSS: this process {peak_rss_mb():.0f} MiB, "
          f"cold children {peak_rss_mb(True):.0f} MiB")


if __name__ == "__main__":
    main()
