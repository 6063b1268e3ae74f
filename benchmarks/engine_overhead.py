"""The engine's own time per completion request, and the context build time, with no model.

A real file is typed again: at seeded lines of a standard-library package the line is cut after
its indentation and its real characters are typed one at a time; every keystroke is one
automatic request served as the language server serves it (the scheduler's lane for the
document, the typed-ahead probe, :meth:`CompletionEngine.complete`), by two engines: one with
no cross-file context and one with a workspace index of the package (``context build`` is the
provider's own measure of each request). The backend is the scripted fake backend, which
answers at once, so what is timed is codeslm's work: the cursor, the window, the context, the
prompt, the stream handling and the post-processing.

Run on one tree (the ``codeslm`` package importable from the current directory)::

    .venv/bin/python benchmarks/engine_overhead.py --json

or side by side on two trees (each run in its own process, in alternating rounds, so a change
of machine load hits both sides alike)::

    git worktree add /tmp/before 46e0762 && git worktree add /tmp/after HEAD
    .venv/bin/python benchmarks/engine_overhead.py --compare /tmp/before /tmp/after
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(1, str(Path(__file__).resolve().parent))
from common import machine, percentile

REPLY = "0  # scripted"  # never what the user types next: no typed-ahead hit


def _positions(root: Path, count: int, chars: int, seed: int) -> list[tuple[Path, int, str]]:
    """(file, line number, the line's text) of seeded lines with enough to type."""
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*.py") if p.stat().st_size > 4000)
    found: list[tuple[Path, int, str]] = []
    while len(found) < count:
        path = rng.choice(files)
        lines = path.read_text(encoding="utf-8").split("\n")
        number = rng.randrange(len(lines))
        line = lines[number]
        body = line.strip()
        if len(body) >= chars + 4 and not body.startswith(("#", '"', "'")):
            found.append((path, number, line))
    return found


def _scheduler_class(tree: Path) -> Any:
    """The scheduler of ``tree``: in the core since the composition root, in lsp/ before."""
    try:
        from codeslm.completion.scheduler import Scheduler

        return Scheduler
    except ImportError:
        old = tree / "lsp" / "scheduler.py"
        spec = importlib.util.spec_from_file_location("old_scheduler", old)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
        return module.Scheduler


async def measure(args: argparse.Namespace) -> dict[str, list[float]]:
    """One tree's timings (milliseconds per request)."""
    from codeslm.backends.fake import FakeBackend
    from codeslm.config import Config
    from codeslm.context.index import WorkspaceIndex
    from codeslm.context.provider import WorkspaceProvider
    from codeslm.documents import position_at
    from codeslm.types import Document

    try:  # the composition root and the one cursor (after issue 19)
        from codeslm.completion.request import Cursor
        from codeslm.session import open_session
    except ImportError:
        Cursor = open_session = None  # type: ignore[assignment,misc]
    root = Path(sysconfig.get_paths()["stdlib"]) / args.package
    config = Config(backend="fake")
    config.completion.fim_format = "qwen2.5-coder"
    config.completion.latency_budget_ms = 0
    scheduler = _scheduler_class(Path.cwd())()
    out: dict[str, list[float]] = {"none": [], "repo": [], "context": []}
    with tempfile.TemporaryDirectory() as tmp:
        index = WorkspaceIndex.open(root, config.context, db_path=Path(tmp) / "i.sqlite")
        index.refresh()
        provider = WorkspaceProvider(index, config)
        if open_session is not None:
            session = open_session(config, backend_factory=lambda c: FakeBackend(REPLY))
            engines = {"none": session.engine, "repo": session.engine_with(provider)}
        else:
            from codeslm.engine import CompletionEngine

            backend = FakeBackend(REPLY)
            engines = {
                "none": CompletionEngine(backend, config),
                "repo": CompletionEngine(backend, config, context_provider=provider),
            }
        positions = _positions(root, args.positions + 1, args.chars, args.seed)
        for number, (path, line_no, line) in enumerate(positions):
            text = path.read_text(encoding="utf-8")
            lines = text.split("\n")
            indent = len(line) - len(line.lstrip())
            start = sum(len(x) + 1 for x in lines[:line_no]) + indent
            end = start + len(line) - indent
            for mode, engine in engines.items():
                for k in range(args.chars + 1):
                    typed = text[:start] + line[indent : indent + k] + text[end:]
                    doc = Document(typed, str(path), "python")
                    offset = start + k
                    began = time.perf_counter()
                    if Cursor is not None:
                        at: Any = Cursor.at_offset(typed, offset)  # once, as the server does
                    else:
                        at = position_at(typed, offset)
                    engine.cached(doc, at)  # the server's typed-ahead probe

                    async def work(engine: Any = engine, doc: Any = doc, at: Any = at) -> Any:
                        return await engine.complete(doc, at)

                    await scheduler.run(str(path), work)
                    took = (time.perf_counter() - began) * 1000
                    if number == 0:
                        continue  # the first position warms caches and imports
                    out[mode].append(took)
                    if mode == "repo":
                        out["context"].append(provider.last.seconds * 1000)
        index.close()
    return out


def compare(args: argparse.Namespace) -> None:
    """Run each tree in its own process, rounds alternating, and print them side by side."""
    trees = [Path(t).resolve() for t in args.compare]
    merged: dict[Path, dict[str, list[float]]] = {t: {} for t in trees}
    own = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--json",
        "--positions",
        str(args.positions),
        "--chars",
        str(args.chars),
        "--package",
        args.package,
    ]
    for round_ in range(args.rounds):
        for tree in trees if round_ % 2 == 0 else list(reversed(trees)):
            env = {**os.environ, "PYTHONPATH": str(tree)}
            done = subprocess.run(
                [*own, "--seed", str(args.seed + round_)],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            for key, values in json.loads(done.stdout).items():
                merged[tree].setdefault(key, []).extend(values)
    print(
        f"machine: {machine()}; load average before/after: {args.load_before} / "
        f"{os.getloadavg()[0]:.2f}"
    )
    print(
        f"{args.rounds} rounds x {args.positions} positions x {args.chars + 1} keystrokes; "
        f"package {args.package}; fake backend\n"
    )
    print(
        "| tree | commit | engine, no context p50/p95 ms | engine, repo context p50/p95 ms "
        "| context build p50/p95 ms |"
    )
    print("|---|---|---|---|---|")
    for tree in trees:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True
        ).stdout.strip()
        cells = [
            f"{percentile(merged[tree][k], 50):.2f} / {percentile(merged[tree][k], 95):.2f}"
            for k in ("none", "repo", "context")
        ]
        print(f"| {tree.name} | {commit} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--package", default="asyncio", help="standard-library package typed in")
    parser.add_argument("--positions", type=int, default=12)
    parser.add_argument("--chars", type=int, default=12, help="keystrokes typed per position")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print this tree's raw timings")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    args.load_before = f"{os.getloadavg()[0]:.2f}"
    if args.compare:
        compare(args)
        return
    result = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(result))
        return
    for key, values in result.items():
        print(
            f"{key}: p50 {percentile(values, 50):.2f} ms, p95 {percentile(values, 95):.2f} ms "
            f"({len(values)} requests)"
        )


if __name__ == "__main__":
    main()
