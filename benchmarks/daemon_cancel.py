"""CPU the model daemon spends on a request after its client cancelled it.

A client of the shared daemon (:mod:`codeslm.backends.daemon`) closes its stream while the
daemon is (a) reading a long fresh prompt, (b) generating. Measured from the daemon process's
own CPU time (``/proc/PID/stat``): CPU seconds spent from the cancel until the daemon is idle
again, and the wall time until then. The daemon checks for cancellation between prompt batches
(``n_batch`` tokens) and after every generated token.

Usage: python benchmarks/daemon_cancel.py [--model NAME] [--trials 8] [--prompt-tokens 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cancellation import fresh_prompt
from common import git_commit, machine, percentile

from codeslm.backends.daemon import runtime
from codeslm.backends.daemon.client import DaemonBackend
from codeslm.config import load_config
from codeslm.session import open_session
from codeslm.types import GenerationRequest

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def until_idle(pid: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) until the daemon uses < 10 ms CPU per 100 ms."""
    start_cpu, start = cpu_seconds(pid), time.perf_counter()
    last = start_cpu
    while True:
        await asyncio.sleep(0.1)
        now = cpu_seconds(pid)
        if now - last < 0.01:
            return now - start_cpu, time.perf_counter() - start
        last = now


async def cancel_after(backend: DaemonBackend, pid: int, request: GenerationRequest, *,
                       seconds: float | None = None, tokens: int | None = None
                       ) -> tuple[float, float]:
    stream = backend.stream(request)
    started = time.perf_counter()
    seen = 0
    async for chunk in stream:
        seen += bool(chunk.text)
        if seconds is not None and time.perf_counter() - started >= seconds:
            break
        if tokens is not None and seen >= tokens:
            break
    await stream.aclose()
    return await until_idle(pid)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    args = parser.parse_args()
    config = load_config({"model": args.model}).config
    config.backend, config.daemon.enabled = "llama-cpp", True  # the shared model daemon
    backend = open_session(config).backend
    assert isinstance(backend, DaemonBackend)
    await backend.health()
    pid = int((runtime.ping(backend.files()) or {})["pid"])
    await until_idle(pid)
    rng = random.Random(7)
    stops = ("<|endoftext|>", "<|file_sep|>", "<|fim_prefix|>")
    prefill, decode = [], []
    for _ in range(args.trials):
        prefill.append(await cancel_after(backend, pid, GenerationRequest(
            prompt=fresh_prompt(args.prompt_tokens, rng), max_tokens=64, stop=stops),
            seconds=0.4))
        decode.append(await cancel_after(backend, pid, GenerationRequest(
            prompt=fresh_prompt(100, rng), max_tokens=400, stop=stops), tokens=12))
    print(f"# daemon cancellation  commit {git_commit()}  model {args.model}  n_batch "
          f"{config.n_batch}")
    print(f"# machine: {machine()}")
    for name, rows in (("prefill", prefill), ("decode", decode)):
        cpu = [r[0] for r in rows]
        wall = [r[1] for r in rows]
        print(f"{name:>8}: CPU after cancel p50 {percentile(cpu, 50):.2f} s p95 "
              f"{percentile(cpu, 95):.2f} s; busy after cancel p50 {percentile(wall, 50):.2f} s "
              f"p95 {percentile(wall, 95):.2f} s ({len(rows)} trials)")


if __name__ == "__main__":
    asyncio.run(main())
