"""How long a cancelled completion keeps the CPU busy, on the embedded llama.cpp backend.

Three ways a request dies in an editor session, each measured ``--trials`` times:

- prefill: the stream is closed while llama.cpp is still reading a long, fresh prompt
  (cancellation is checked between prompt batches of ``n_batch`` tokens);
- decode: the stream is closed while tokens are being generated (checked after each token);
- supersede: the engine gets a newer request for the same document while the older one is
  generating (its prompt is in the KV cache); reported is the newer request's latency next
  to the same request on an idle backend (what the user feels).

"Busy after cancel" runs from the moment the consumer closes the stream to the moment the
backend's worker thread records the request as finished (``LlamaCppBackend.history``), i.e.
until the CPU is free for the next request.

Usage: python benchmarks/cancellation.py [--model PATH_OR_NAME] [--trials 8] [--n-batch 128]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, peak_rss_mb, percentile

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.completion.request import CompletionOptions
from codeslm.completion.scheduler import Superseded
from codeslm.config import Config
from codeslm.runtime.models.resolve import resolve
from codeslm.session import open_session
from codeslm.types import CompletionMode, Document, GenerationRequest, Position

CODE_LINE = "    result.append(transform(item, scale=factor, offset=index * {n}))\n"


def fresh_prompt(tokens_wanted: int, rng: random.Random) -> str:
    """A prompt of roughly ``tokens_wanted`` tokens that shares nothing with the previous one."""
    head = f"# session {rng.random()}\ndef process(items, factor):\n    result = []\n"
    body = "".join(CODE_LINE.format(n=rng.randint(0, 10**6)) for _ in range(tokens_wanted // 20))
    return "<|fim_prefix|>" + head + body + "<|fim_suffix|>\n    return result\n<|fim_middle|>"


async def wait_finished(backend: LlamaCppBackend, count: int, timeout: float = 60) -> float:
    """Time at which the backend's history grows past ``count`` entries."""
    deadline = time.perf_counter() + timeout
    while len(backend.history) <= count:
        if time.perf_counter() > deadline:
            raise TimeoutError("the backend did not finish the cancelled request")
        await asyncio.sleep(0.002)
    return time.perf_counter()


async def cancel_after(backend: LlamaCppBackend, request: GenerationRequest, *,
                       seconds: float | None = None, tokens: int | None = None) -> float:
    """Start ``request``, close its stream after ``seconds`` or ``tokens``; return busy time."""
    before = len(backend.history)
    stream = backend.stream(request)
    received = 0

    async def consume() -> None:
        nonlocal received
        async for chunk in stream:
            if chunk.text:
                received += 1
                if tokens is not None and received >= tokens:
                    return

    task = asyncio.ensure_future(consume())
    if seconds is not None:
        await asyncio.sleep(seconds)
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await stream.aclose()
    closed = time.perf_counter()
    finished = await wait_finished(backend, before)
    return finished - closed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--n-batch", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=1500)
    args = parser.parse_args()
    path = Path(args.model) if args.model.endswith(".gguf") else resolve(args.model).path
    config = Config(model=str(path), n_batch=args.n_batch, n_ctx=4096, backend="embedded")
    config.completion.latency_budget_ms = 0
    session = open_session(config)
    backend = session.backend
    assert isinstance(backend, LlamaCppBackend)  # in-process: its worker's history is read
    rng = random.Random(7)
    await backend.model_info()  # load before timing
    stops = ("<|endoftext|>", "<|file_sep|>", "<|fim_prefix|>")

    prefill: list[float] = []
    decode: list[float] = []
    for _ in range(args.trials):
        request = GenerationRequest(prompt=fresh_prompt(args.prompt_tokens, rng), max_tokens=64,
                                    stop=stops)
        prefill.append(await cancel_after(backend, request, seconds=0.4))
        request = GenerationRequest(prompt=fresh_prompt(100, rng), max_tokens=400,
                                    stop=stops)
        decode.append(await cancel_after(backend, request, tokens=12))

    engine, scheduler = session.engine, session.scheduler  # the scheduler supersedes
    idle: list[float] = []
    superseding: list[float] = []
    superseded_ok = 0
    long_options = CompletionOptions(mode=CompletionMode.MULTI_LINE, max_tokens=300,
                                     early_stop=False, use_cache=False)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, max_tokens=16, use_cache=False)
    for trial in range(args.trials):
        text = "def process(items, factor):\n    result = []\n" + "".join(
            CODE_LINE.format(n=rng.randint(0, 10**6)) for _ in range(40)) + "\n"
        document = Document(text, f"doc{trial}.py", "python")
        end = Position(text.count("\n"), 0)
        key = document.path or ""
        long_one = asyncio.ensure_future(scheduler.run(
            key, lambda d=document, e=end: engine.complete(d, e, long_options)))
        await asyncio.sleep(0.05)
        while backend._generated < 5:  # supersede once the older one is generating
            await asyncio.sleep(0.01)
        started = time.perf_counter()
        await scheduler.run(key, lambda d=document, e=end: engine.complete(d, e, options))
        superseding.append(time.perf_counter() - started)
        superseded_ok += isinstance(await long_one, Superseded)
        started = time.perf_counter()
        await scheduler.run(key, lambda d=document, e=end: engine.complete(d, e, options))
        idle.append(time.perf_counter() - started)
    await session.aclose()

    def row(name: str, values: list[float]) -> str:
        return (f"| {name} | {percentile(values, 50) * 1000:.0f} | "
                f"{percentile(values, 95) * 1000:.0f} | {max(values) * 1000:.0f} |")

    print(f"machine: {machine()}")
    print(f"codeslm commit {git_commit()}; model {path.name}; n_batch {args.n_batch}; "
          f"{args.trials} trials; peak RSS {peak_rss_mb():.0f} MiB")
    print()
    print("| busy after cancel | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    print(row(f"during prefill (~{args.prompt_tokens}-token fresh prompt)", prefill))
    print(row("during decode", decode))
    print()
    print("| newer request for the same document | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    print(row("superseding a running generation", superseding))
    print(row("same request, idle backend (KV cache warm)", idle))
    print(f"\nolder requests reported superseded: {superseded_ok}/{args.trials}")


if __name__ == "__main__":
    asyncio.run(main())
