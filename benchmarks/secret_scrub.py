"""What scrubbing secrets costs the commit hook, and what detect-secrets would cost instead.

For each range of this repository's history (default: the last 1, 5 and 40 commits) the
script takes ``git diff A..B``, then times, per run:

- codeslm: :func:`codeslm.git.changes.scrub_file` over every file of the parsed diff (what the
  hook does before fitting the diff into its budget);
- detect-secrets (when installed): ``SecretsCollection.scan_diff`` with its default plugins
  and filters, run from the repository root (its filters drop files they cannot find), plus
  its import time, which a hook process pays on every commit.

It prints p50/p95 per diff, the machine and the commit. detect-secrets is optional: ``pip
install detect-secrets unidiff`` to compare.

Usage: python benchmarks/secret_scrub.py [--ranges 1,5,40] [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import git_commit, machine, percentile
from codeslm.git.changes import scrub_file
from codeslm.git.diff import parse_diff

ROOT = Path(__file__).resolve().parents[1]


def ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.1f} ms, p95 {percentile(values, 95):.1f} ms"


def timed(fn: object, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ranges", default="1,5,40", help="diffs of HEAD~N..HEAD")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    try:
        started = time.perf_counter()
        from detect_secrets import SecretsCollection
        from detect_secrets.settings import default_settings

        import_ms: float | None = (time.perf_counter() - started) * 1000
    except ImportError:
        import_ms = None
    os.chdir(ROOT)
    print(f"machine: {machine()}\ncommit: {git_commit()}")
    for n in (int(x) for x in args.ranges.split(",")):
        text = subprocess.run(["git", "diff", f"HEAD~{n}", "HEAD"], capture_output=True,
                              text=True, check=True).stdout
        files = parse_diff(text)
        lines = sum(1 for f in files for h in f.hunks for ln in h.lines if ln.kind != "-")
        ours = timed(lambda files=files: [scrub_file(f) for f in files], args.runs)
        line = f"HEAD~{n}..HEAD, {len(files)} files, {lines} lines: codeslm {ms(ours)}"
        if import_ms is not None:
            def scan(text: str = text) -> None:
                with default_settings():
                    SecretsCollection().scan_diff(text)

            line += f"; detect-secrets {ms(timed(scan, max(1, args.runs // 2)))}"
        print(line)
    if import_ms is not None:
        print(f"detect-secrets import: {import_ms:.0f} ms (paid by every hook process)")
    else:
        print("detect-secrets not installed (pip install detect-secrets unidiff to compare)")


if __name__ == "__main__":
    main()
