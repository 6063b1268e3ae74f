"""How many threads llama.cpp should use for the next request, given what else is running.

llama.cpp's worker threads wait for each other at every step of a batch. When other programs
keep the cores busy, a thread that has lost its core holds all the others up. Against other
multi-threaded model work (llama.cpp or PyTorch processes, whose threads spin while they wait)
throughput collapsed rather than shrinking in proportion: on 2 cores a 400-token prefill took
29-31 s with 2 threads and 10.4 s with 1. Against plain busy loops the effect is small either
way (one thread 10% faster beside one loop, 13% slower beside two; see
``benchmarks/threads_under_load.py`` and RESULTS.md). So, to avoid the worst case, before each
request the backend counts the threads of *other* processes that are running right now and
uses only the cores they leave free, never fewer than one and never more than configured.

The count comes from Linux's ``/proc`` (``procs_running`` in ``/proc/stat``, less this
process's own running threads, since llama.cpp's idle workers may still be spinning). Where
``/proc`` is missing (macOS, Windows) the configured number is used unchanged.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ..config import Config, effective_threads

log = logging.getLogger(__name__)

_SAMPLES = 3  # readings a moment apart; the fewest counts, so a process that ran for an instant
# does not take a core away (on an idle machine the median dropped a thread in 1 of 5 requests)
_SAMPLE_GAP_S = 0.001


def _procs_running(stat: Path) -> int | None:
    try:
        for line in stat.read_text().splitlines():
            if line.startswith("procs_running "):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _own_running(tasks: Path) -> int:
    """This process's threads in state R (running or runnable)."""
    running = 0
    try:
        entries = list(tasks.iterdir())
    except OSError:
        return 0
    for entry in entries:
        try:
            # "pid (comm) S ...": the state follows the last ')' (comm may hold spaces)
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        running += state == "R"
    return running


def others_running(proc: Path = Path("/proc")) -> int | None:
    """Threads of other processes running or waiting for a core now; None without ``/proc``."""
    readings = []
    for i in range(_SAMPLES):
        if i:
            time.sleep(_SAMPLE_GAP_S)
        total = _procs_running(proc / "stat")
        if total is None:
            return None
        readings.append(max(0, total - _own_running(proc / "self" / "task")))
    return min(readings)


def threads_for_now(configured: int, cores: int, others: int | None) -> int:
    """The threads to use: the cores ``others`` leave free, between 1 and ``configured``."""
    if others is None:
        return configured
    return max(1, min(configured, cores - others))


class ThreadAdapter:
    """Sets a llama.cpp context's thread count before each request (see the module doc)."""

    def __init__(self, configured: int, cores: int, *, enabled: bool = True) -> None:
        self.configured = configured
        self.cores = cores
        self.enabled = enabled
        self.reduced = 0  # requests run with fewer threads than configured

    @classmethod
    def for_config(cls, config: Config) -> ThreadAdapter:
        """The adapter for ``config``'s thread count and ``adaptive_threads`` switch."""
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            cores = os.cpu_count() or 1
        return cls(effective_threads(config), cores, enabled=config.adaptive_threads)

    def adapt(self, llm: Any) -> int:
        """Choose and apply the thread count for the next request on ``llm``; returns it."""
        wanted = self.configured
        if self.enabled:
            wanted = threads_for_now(self.configured, self.cores, others_running())
        # Set every time (a C setter, no cost): the context may have been reopened since.
        llm._ctx.set_n_threads(wanted, wanted)  # llama-cpp-python has no public setter
        if wanted < self.configured:
            self.reduced += 1
            log.debug("llama.cpp: %d of %d threads (other programs are busy)", wanted,
                      self.configured)
        return wanted
