"""Shared helpers for benchmark scripts: machine description, git commit, percentiles, RSS."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (pct in 0..100); NaN for an empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> str:
    """``p50 … p95 … mean … n`` in seconds."""
    if not values:
        return "n=0"
    return (f"p50 {percentile(values, 50):.3f} s  p95 {percentile(values, 95):.3f} s  "
            f"mean {statistics.fmean(values):.3f} s  n={len(values)}")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               text=True, capture_output=True).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line: CPU, cores usable, memory, load average, OS, Python."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
        mem_text = f"{mem:.0f} GiB RAM"
    except (OSError, IndexError, ValueError):
        mem_text = "? RAM"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpu_model()}, {cores} cores, {mem_text}, load avg {load}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}")


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory of this process (or of its finished children) in MiB."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
