"""Time reading the GGUF header of the default model: codeslm's reader against ``gguf``'s.

Model resolution reads the header on every command, so this is on the path of each
``codeslm complete``. Runs in this process, interleaved, after one untimed read (the file's
header pages are then in the page cache, as for any command after the first)::

    .venv/bin/python benchmarks/gguf_header.py [--runs 21] [--gguf-runs 3] [--model PATH]

``--gguf-runs 0`` skips ``gguf.GGUFReader`` (slow; needs the ``gguf`` package).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from codeslm.runtime.models import gguf
from codeslm.runtime.models.registry import DEFAULT_MODEL
from codeslm.runtime.models.resolve import resolve


def _timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return sorted(out)


def _p(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--gguf-runs", type=int, default=3)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    path = args.model or resolve(DEFAULT_MODEL).path
    print(f"{path} ({path.stat().st_size / 1e6:,.0f} MB)")
    gguf.read_header(path)
    ours = _timed(lambda: gguf.read_header(path), args.runs)
    print(f"codeslm reader    p50 {_p(ours, 0.5):8.1f} ms  p95 {_p(ours, 0.95):8.1f} ms  "
          f"({args.runs} runs)")
    if args.gguf_runs:
        started = time.perf_counter()
        import gguf as gguf_package  # numpy, yaml and the package itself

        imported = (time.perf_counter() - started) * 1000
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        theirs = _timed(lambda: gguf_package.GGUFReader(path), args.gguf_runs)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"gguf.GGUFReader   p50 {_p(theirs, 0.5):8.1f} ms  max {max(theirs) * 1000:8.1f} ms"
              f"  ({args.gguf_runs} runs; import {imported:.0f} ms; peak RSS "
              f"{rss_before:.0f} -> {rss_after:.0f} MB)")
        print(f"ratio of p50s     {statistics.median(theirs) / statistics.median(ours):.0f}x")


if __name__ == "__main__":
    main()
