"""Replay a typing session against a model server and report completion latency.

Works with any server codeslm can talk to (``--backend vllm | openai-compatible |
llama-server | ollama``, or ``llama-cpp`` for codeslm's own model daemon): a function of a real
source file (the standard library's ``textwrap.py`` by default) is "typed" again word by word,
and at each step a FIM completion is requested exactly as codeslm would build it (the engine's
prefix/suffix window, the FIM format detected from the served vocabulary, codeslm's stop rules),
through codeslm's own client.

Requests are sequential with ``--interval-ms`` of "typing" between them, as an editor that
waits for each answer would send them. Reported: time to first token and end-to-end latency
(p50/p95, client side), decode speed, prefix-cache hit rate (vLLM ``/metrics`` difference over
the run; else the servers' ``cached_tokens``), and the machine and git commit. ``--json`` writes
everything for ``gpu_vllm.sh``.

    python benchmarks/replay_typing.py --backend openai-compatible --url http://127.0.0.1:8012
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import inspect
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codeslm.backends.vllm import VllmBackend, metrics_summary  # noqa: E402
from codeslm.config import Config  # noqa: E402
from codeslm.context.port import window  # noqa: E402
from codeslm.errors import CodeslmError  # noqa: E402
from codeslm.session import open_session  # noqa: E402
from codeslm.types import GenerationRequest  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    return commit + (
        "+dirty" if git("status", "--porcelain", "--untracked-files=no").strip() else ""
    )


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    if shutil.which("nvidia-smi"):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        gpu = f", GPU {out.splitlines()[0]}" if out else ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {cores} cores{gpu}, load avg {load}, Python {platform.python_version()}"


def typing_steps(text: str, region: tuple[int, int], count: int) -> list[tuple[str, int]]:
    """(document as typed so far, cursor offset) after each of the first ``count`` words typed
    into ``text[region]``, one request per word as a debounced editor sends them.

    The code after the region is kept (the suffix), as when a function is rewritten in place.
    """
    start, end = region
    body = text[start:end]
    cuts = [i + 1 for i, ch in enumerate(body) if ch in " \n(.:,=" and i + 1 < len(body)]
    cuts = [c for c, prev in zip(cuts, [0, *cuts], strict=False) if c - prev > 1][:count]
    return [(text[:start] + body[:cut] + text[end:], start + cut) for cut in cuts]


def default_region(text: str) -> tuple[int, int]:
    """The code of ``TextWrapper._wrap_chunks`` in textwrap.py, after its docstring (or the
    middle third of any other file)."""
    marker = "    def _wrap_chunks(self, chunks):"
    head = text.find(marker)
    if head < 0:
        return len(text) // 3, 2 * len(text) // 3
    doc_end = text.find('"""', text.find('"""', head) + 3)
    start = text.find("\n", doc_end) + 1
    end = text.find("\n    def ", start)
    return start, (end if end > 0 else len(text))


def editor_sources(first: Path, count: int) -> list[Path]:
    """``first`` and then ``count - 1`` other standard-library modules (sorted, of 10-200 kB),
    one per simulated editor: different files, as different users would type in."""
    stdlib = Path(inspect.getfile(textwrap)).parent
    others = sorted(
        p for p in stdlib.glob("*.py") if p != first and 10_000 < p.stat().st_size < 200_000
    )
    return [first, *others[: max(0, count - 1)]]


@dataclasses.dataclass
class Samples:
    """What the replayed requests measured (all editors together)."""

    ttft: list[float] = dataclasses.field(default_factory=list)
    e2e: list[float] = dataclasses.field(default_factory=list)
    decode_tps: list[float] = dataclasses.field(default_factory=list)
    tokens: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    cached_known: bool = False
    failed: int = 0


async def replay(args: argparse.Namespace) -> dict[str, Any]:
    config = Config(
        backend=args.backend,
        url=args.url,
        model=args.model or Config().model,
        request_timeout_s=args.timeout,
    )
    session = open_session(config)
    backend, engine = session.backend, session.engine
    fmt = await engine.fim_format()
    stop_ids = engine.planner.stop_ids  # computed with the format, as the engine sends them
    source = Path(args.file) if args.file else Path(inspect.getfile(textwrap))
    comp = config.completion

    def request_for(path: Path, doc: str, offset: int) -> GenerationRequest:
        prefix, suffix = window(doc, offset, comp.prefix_chars, comp.suffix_chars)
        prompt = fmt.render(prefix, suffix)
        return GenerationRequest(
            prompt=prompt,
            max_tokens=args.max_tokens,
            temperature=0.0,
            stop=(*fmt.stop, "\n\n"),
            stop_token_ids=stop_ids,
            session=str(path.parent),
            cache_key=str(path),
        )

    typists = []
    for path in editor_sources(source, args.editors):
        text = path.read_text()
        typists.append((path, typing_steps(text, default_region(text), args.keystrokes)))
    samples = Samples()

    async def type_along(path: Path, steps: list[tuple[str, int]], delay: float) -> None:
        await asyncio.sleep(delay)
        for doc, offset in steps:
            try:
                await timed(request_for(path, doc, offset))
            except CodeslmError:
                samples.failed += 1
            if args.interval_ms:
                await asyncio.sleep(args.interval_ms / 1000)

    async def timed(request: GenerationRequest) -> None:
        started = time.perf_counter()
        first: float | None = None
        usage = None
        pieces = 0
        async for chunk in backend.stream(request):
            if chunk.text:
                pieces += 1
                if first is None:
                    first = time.perf_counter() - started
            if chunk.usage is not None:
                usage = chunk.usage
        total = time.perf_counter() - started
        samples.e2e.append(total)
        samples.ttft.append(first if first is not None else total)
        n = usage.completion_tokens if usage and usage.completion_tokens else pieces
        samples.tokens += n
        if usage and usage.prompt_tokens:
            samples.prompt_tokens += usage.prompt_tokens
        if usage and usage.cached_prompt_tokens is not None:
            samples.cached_known = True
            samples.cached_tokens += usage.cached_prompt_tokens
        if first is not None and n > 1 and total > first:
            samples.decode_tps.append((n - 1) / (total - first))

    # Warm-up (not measured): loads weights into caches, compiles kernels.
    await backend.generate(request_for(typists[0][0], *typists[0][1][0]))
    before = await backend.metrics_text() if isinstance(backend, VllmBackend) else None
    wall_started = time.perf_counter()
    # Editors start a little apart (seeded), as people do not press keys in step.
    rng = random.Random(args.seed)
    await asyncio.gather(
        *(
            type_along(path, steps, rng.uniform(0, 1.0) if i else 0.0)
            for i, (path, steps) in enumerate(typists)
        )
    )
    wall = time.perf_counter() - wall_started
    requests = sum(len(steps) for _, steps in typists)
    result: dict[str, Any] = {
        "label": args.label,
        "backend": args.backend,
        "url": args.url,
        "served_model": (await backend.model_info()).name,
        "fim_format": fmt.name,
        "source": f"{source.name} ({len(typists[0][1])} keystrokes)"
        + (f", {len(typists)} editors at once" if len(typists) > 1 else ""),
        "editors": len(typists),
        "max_tokens": args.max_tokens,
        "requests": requests,
        "failed_requests": samples.failed,
        "ttft_p50_s": percentile(samples.ttft, 50),
        "ttft_p95_s": percentile(samples.ttft, 95),
        "e2e_p50_s": percentile(samples.e2e, 50),
        "e2e_p95_s": percentile(samples.e2e, 95),
        "decode_tokens_per_s_p50": percentile(samples.decode_tps, 50),
        "tokens_generated": samples.tokens,
        "throughput_tokens_per_s": samples.tokens / wall if wall else float("nan"),
        "prefix_cache_hit_rate": None,
        "prefix_cache_source": "not reported",
        "spec_acceptance": None,
        "client_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "machine": machine(),
        "commit": git_commit(),
    }
    if args.server_pid:
        try:
            status = Path(f"/proc/{args.server_pid}/status").read_text()
            hwm = next(line for line in status.splitlines() if line.startswith("VmHWM"))
            result["server_peak_rss_mib"] = int(hwm.split()[1]) / 1024
        except (OSError, StopIteration):
            pass
    if isinstance(backend, VllmBackend) and before is not None:
        summary = metrics_summary(await backend.metrics_text(), before=before)
        result["prefix_cache_hit_rate"] = summary.prefix_hit_rate
        result["prefix_cache_source"] = "vLLM /metrics over the run"
        result["spec_acceptance"] = summary.spec_acceptance
        result["server_ttft_p50_s"] = summary.ttft_p50
    elif samples.cached_known and samples.prompt_tokens:
        result["prefix_cache_hit_rate"] = samples.cached_tokens / samples.prompt_tokens
        result["prefix_cache_source"] = "cached prompt tokens reported by the server"
    await session.aclose()
    return result


def report(r: dict[str, Any]) -> str:
    def ms(key: str) -> str:
        value = r.get(key)
        return "n/a" if value is None else f"{value * 1000:.0f} ms"

    hit = r["prefix_cache_hit_rate"]
    lines = [
        f"replay {r['label'] or ''} — {r['backend']} {', '.join(r['url'])} — {r['served_model']} "
        f"({r['fim_format']}), {r['source']}, max_tokens {r['max_tokens']}",
        f"  time to first token  p50 {ms('ttft_p50_s')}  p95 {ms('ttft_p95_s')}",
        f"  end to end           p50 {ms('e2e_p50_s')}  p95 {ms('e2e_p95_s')}",
        f"  decode               p50 {r['decode_tokens_per_s_p50']:.1f} tokens/s; "
        f"{r['tokens_generated']} tokens, {r['throughput_tokens_per_s']:.1f} tokens/s over the run",
        "  prefix cache         "
        + (
            f"{hit:.0%} hit rate ({r['prefix_cache_source']})"
            if hit is not None
            else r["prefix_cache_source"]
        ),
    ]
    if r.get("failed_requests"):
        lines.append(f"  failed requests      {r['failed_requests']} of {r['requests']}")
    if r.get("spec_acceptance") is not None:
        lines.append(f"  n-gram speculation   {r['spec_acceptance']:.0%} of draft tokens accepted")
    memory = f"  memory               client peak RSS {r['client_peak_rss_mib']:.0f} MiB"
    if "server_peak_rss_mib" in r:
        memory += f", server peak RSS {r['server_peak_rss_mib']:.0f} MiB"
    lines.append(memory)
    lines.append(f"  machine              {r['machine']}")
    lines.append(f"  commit               {r['commit']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backend",
        default="openai-compatible",
        choices=["vllm", "openai-compatible", "llama-server", "ollama", "llama-cpp"],
        help="llama-cpp: codeslm's own model daemon (no --url)",
    )
    parser.add_argument("--url", action="append", default=[], help="server URL (repeatable)")
    parser.add_argument("--model", help="served model id (default: the only one served)")
    parser.add_argument("--file", help="source file to type (default: textwrap.py)")
    parser.add_argument("--keystrokes", type=int, default=60, help="completion requests")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--interval-ms", type=int, default=0, help="pause between requests")
    parser.add_argument(
        "--editors",
        type=int,
        default=1,
        help="editors typing at once, each in another standard-library file (default 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the editors' start offsets")
    parser.add_argument("--timeout", type=float, default=120.0, help="request timeout, seconds")
    parser.add_argument("--server-pid", type=int, help="report this process's peak RSS")
    parser.add_argument("--label", default="", help="name of this run in the report")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if not args.url and args.backend != "llama-cpp":
        parser.error("--url is required for a server backend")
    result = asyncio.run(replay(args))
    print(report(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
