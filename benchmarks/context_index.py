"""Benchmark of the workspace index and the context builder on a large real tree.

Default tree: the CPython standard library of the running interpreter (``Lib/``, ~2,000
files). Measures, each printed with the machine and the git commit:

- full index build (empty cache) time and peak RSS (this process, and the worker processes);
- cache reload (a new process state loading the SQLite cache) and a no-op refresh;
- incremental update of an open buffer after a one-line edit (p50/p95);
- context build per request at random positions of random files (p50/p95; the heap frozen
  once the index is loaded, as the language server does; each file is opened first as an
  editor would, and that first parse is reported on its own), with the real tokenizer of the
  default model (``--tokenizer estimate`` to skip loading it);
- context build right after ``receiver.`` (the rest of the line cut), where the member lookup
  for the first-identifier constraint runs too, and how often it found a whole member set.

Usage: python benchmarks/context_index.py [ROOT] [--requests 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import re
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores, Python {platform.python_version()}"


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=Path(__file__).parent, check=False)
        # The path is the repository's, so ask from its root (not from benchmarks/).
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "codeslm/context"],
                               capture_output=True, text=True,
                               cwd=Path(__file__).resolve().parent.parent,
                               check=False).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return "?"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def token_counter(kind: str):
    if kind == "estimate":
        from codeslm.context.port import estimate_tokens

        return estimate_tokens, "estimate (3.5 chars/token)"
    import llama_cpp

    from codeslm.runtime.models.registry import DEFAULT_MODEL
    from codeslm.runtime.models.resolve import resolve

    path = resolve(DEFAULT_MODEL).path
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)

    def count(text: str) -> int:
        return len(llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0

    return count, f"llama.cpp tokenizer of {path.name}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?", type=Path, default=Path(sysconfig.get_paths()["stdlib"]))
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=int, default=768)
    ap.add_argument("--tokenizer", choices=["model", "estimate"], default="model")
    args = ap.parse_args()

    from codeslm.config import Config
    from codeslm.context.index import WorkspaceIndex
    from codeslm.context.provider import WorkspaceProvider
    from codeslm.documents import language_for
    from codeslm.types import Document

    config = Config()
    print(f"machine: {machine()}")
    print(f"commit:  {commit()}")
    print(f"tree:    {args.root}")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "index.sqlite"
        base_rss = rss_mb()
        started = time.perf_counter()
        index = WorkspaceIndex.open(args.root, config.context, db_path=db)
        report = index.refresh()
        build_s = time.perf_counter() - started
        print(f"full index: {build_s:.2f} s, {report.files} files, {report.symbols} symbols, "
              f"{len(report.skipped)} skipped; peak RSS {rss_mb():.0f} MB "
              f"(interpreter alone {base_rss:.0f} MB), workers' peak RSS "
              f"{rss_mb(resource.RUSAGE_CHILDREN):.0f} MB each at most")
        index.close()
        del index

        started = time.perf_counter()
        index = WorkspaceIndex.open(args.root, config.context, db_path=db)
        reload_s = time.perf_counter() - started
        started = time.perf_counter()
        noop = index.refresh()
        print(f"cache reload: {reload_s:.2f} s ({len(index)} files); no-op refresh (walk + "
              f"stat): {time.perf_counter() - started:.2f} s, {noop.parsed} parsed")

        count, counter_name = token_counter(args.tokenizer)
        provider = WorkspaceProvider(index, config)
        # As the language server does once its index is loaded (see provider_for_root).
        gc.collect()
        gc.freeze()
        rng = random.Random(args.seed)
        sources = sorted(p for p, e in index.entries.items() if e.language == "python")

        edit_times = []
        for _ in range(args.edits):
            rel = rng.choice(sources)
            text = (args.root / rel).read_text(encoding="utf-8", errors="replace")
            provider.update_document(args.root / rel, text)  # the buffer opens (full parse)
            lines = text.split("\n")
            at = rng.randrange(len(lines))
            edited = "\n".join([*lines[:at], "    value = compute(value)  # edit", *lines[at:]])
            started = time.perf_counter()
            provider.update_document(args.root / rel, edited)
            edit_times.append(time.perf_counter() - started)
            provider.remove_document(args.root / rel)
        print(f"incremental update after a one-line edit ({len(edit_times)} edits): "
              f"p50 {1000 * pct(edit_times, .5):.1f} ms, p95 {1000 * pct(edit_times, .95):.1f} ms")

        build_times = []
        open_times = []
        sizes = []
        for _ in range(args.requests):
            rel = rng.choice(sources)
            path = args.root / rel
            text = path.read_text(encoding="utf-8", errors="replace")
            offset = rng.randrange(len(text) + 1)
            doc = Document(text, str(path), language_for(rel))
            provider.forget_region()
            started = time.perf_counter()
            provider.update_document(path, text)  # the editor opened the file (didOpen)
            open_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            ctx = provider.context_for(doc, offset, budget_tokens=args.budget,
                                       count_tokens=count)
            build_times.append(time.perf_counter() - started)
            sizes.append(len(ctx.files))
            provider.remove_document(path)
        print(f"context build at random positions ({len(build_times)} requests, budget "
              f"{args.budget}, {counter_name}): p50 {1000 * pct(build_times, .5):.1f} ms, "
              f"p95 {1000 * pct(build_times, .95):.1f} ms, max "
              f"{1000 * max(build_times):.1f} ms; {sum(sizes) / len(sizes):.1f} blocks on "
              f"average")
        # Right after ``receiver.``, where the member lookup (the first-identifier
        # constraint) also runs: the text after the dot is cut, as when the user just typed it.
        dot_times: list[float] = []
        plain_times: list[float] = []
        constrained = 0
        for _ in range(args.requests):
            rel = rng.choice(sources)
            path = args.root / rel
            text = path.read_text(encoding="utf-8", errors="replace")
            dots = [m.end() for m in re.finditer(r"\b[A-Za-z_]\w*\.(?=[A-Za-z_])", text)]
            if not dots:
                continue
            offset = rng.choice(dots)
            end = text.find("\n", offset)
            text = text[:offset] + (text[end:] if end >= 0 else "")
            doc = Document(text, str(path), language_for(rel))
            provider.update_document(path, text)
            # Side by side; which one goes first (and warms the caches) alternates.
            pair = [(True, dot_times), (False, plain_times)]
            for lookup, times in pair[:: 1 if len(dot_times) % 2 else -1]:
                config.context.member_constraint = lookup
                provider.forget_region()
                started = time.perf_counter()
                ctx = provider.context_for(doc, offset, budget_tokens=args.budget,
                                           count_tokens=count)
                times.append(time.perf_counter() - started)
                constrained += bool(ctx.member_names)
            provider.remove_document(path)
        config.context.member_constraint = True
        for label, times in (("with", dot_times), ("without", plain_times)):
            print(f"context build right after receiver., {label} the member lookup "
                  f"({len(times)} requests): p50 {1000 * pct(times, .5):.1f} ms, p95 "
                  f"{1000 * pct(times, .95):.1f} ms, max {1000 * max(times):.1f} ms")
        print(f"  {constrained} of {len(dot_times)} got the receiver's whole member set")
        print(f"opening a file (first parse and analysis of the buffer, before the requests "
              f"above): p50 {1000 * pct(open_times, .5):.1f} ms, p95 "
              f"{1000 * pct(open_times, .95):.1f} ms")
        print(f"peak RSS at the end: {rss_mb():.0f} MB")
        index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
