"""What a `codeslm tune` adapter costs at completion time, on llama.cpp and on vLLM (issue 17's
target: at most 10% more latency).

The same FIM prompts (HumanEval single-line holes, a seeded sample) are completed greedily, up
to the end of the line, by the base model and by the base model with the adapter, alternating
prompt by prompt so that load changes hit both alike:

- llama.cpp: two in-process backends on the default GGUF, one with ``completion.adapter`` set
  to the adapter's folder (its GGUF LoRA), one with ``none``; exact prefix reuse only, so the
  two evaluate the same tokens;
- vLLM (``--vllm``): one ``codeslm serve --backend vllm --lora tuned=FOLDER`` server, asked for
  model ``qwen2.5-coder-0.5b`` and for model ``tuned`` (multi-LoRA: one server, both models).

Reported per row: latency p50/p95, and for llama.cpp the prompt tokens evaluated per second and
the decode speed; then each overhead (adapter p50 / base p50 - 1). An adapter can change how
long the answers are, so llama.cpp's overhead is read from its per-token speeds, and vLLM is
asked for exactly ``VLLM_TOKENS`` tokens (``ignore_eos``, no stop) so both rows do equal work.

    python benchmarks/adapter_overhead.py ADAPTER_FOLDER [--prompts 40] [--vllm]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import git_commit, machine, percentile

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import load_config
from codeslm.evaluation.humaneval_data import build_tasks, sample
from codeslm.runtime.models.resolve import resolve
from codeslm.types import GenerationRequest

BASE = "qwen2.5-coder-0.5b"
MAX_TOKENS = 24
VLLM_TOKENS = 16


def prompts(count: int, seed: int) -> list[str]:
    """FIM prompts (Qwen2.5-Coder's format) at the holes of a seeded HumanEval sample."""
    tasks = sample(build_tasks("single-line"), count, seed)
    return [f"<|fim_prefix|>{t.prompt}<|fim_suffix|>\n{t.suffix}<|fim_middle|>" for t in tasks]


def _backend(adapter: str) -> LlamaCppBackend:
    config = load_config({"model": BASE}).config
    config.completion.adapter = adapter
    config.completion.kv_reuse = "prefix"
    return LlamaCppBackend(config, model_path=resolve(BASE).path)


async def llama_rows(texts: list[str], adapter: Path) -> dict[str, list[tuple[float, ...]]]:
    """Per row: (latency s, prompt tokens evaluated per s, decode tokens per s) per prompt."""
    rows: dict[str, list[tuple[float, ...]]] = {"base": [], "adapter": []}
    backends = {"base": _backend("none"), "adapter": _backend(str(adapter))}
    try:
        for i, text in enumerate(texts):
            order = ["base", "adapter"] if i % 2 == 0 else ["adapter", "base"]
            for name in order:
                request = GenerationRequest(
                    prompt=text, max_tokens=MAX_TOKENS, stop=("\n",), temperature=0.0
                )
                started = time.perf_counter()
                result = await backends[name].generate(request)
                took = time.perf_counter() - started
                u = result.usage
                evaluated = (u.prompt_tokens or 0) - (u.cached_prompt_tokens or 0)
                first = u.time_to_first_token_s or took
                decoded = max(0, (u.completion_tokens or 0) - 1)
                prefill = evaluated / first if first > 0 else 0.0
                decode = decoded / (took - first) if decoded and took > first else 0.0
                rows[name].append((took, prefill, decode))
    finally:
        for backend in backends.values():
            await backend.aclose()
    return rows


def vllm_rows(texts: list[str], adapter: Path) -> dict[str, list[tuple[float, ...]]]:
    """Per row: (latency s,) per prompt, through one vLLM server holding both models."""
    with tempfile.TemporaryDirectory() as work:
        config = Path(work) / "config.toml"
        config.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
        env.update({"CODESLM_CONFIG": str(config), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
        argv = [sys.executable, "-m", "codeslm", "serve", "--backend", "vllm", "--port", "0"]
        server = subprocess.Popen(
            [*argv, "--lora", f"tuned={adapter}"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = None
            for line in server.stdout:
                if found := re.match(r"ready: (http://\S+)", line):
                    url = found.group(1)
                    break
            if url is None:
                raise SystemExit("codeslm serve --backend vllm did not get ready")
            return _ask_vllm(url, texts)
        finally:
            server.terminate()
            server.wait(timeout=120)


def _ask_vllm(url: str, texts: list[str]) -> dict[str, list[tuple[float, ...]]]:
    rows: dict[str, list[tuple[float, ...]]] = {"base": [], "adapter": []}
    models = {"base": BASE, "adapter": "tuned"}
    with httpx.Client(base_url=url, timeout=300, trust_env=False) as client:
        for name in models:  # one untimed request each: vLLM loads the adapter on first use
            client.post("/v1/completions", json={"model": models[name], "prompt": texts[0],
                                                  "max_tokens": 1}).raise_for_status()
        for i, text in enumerate(texts):
            order = ["base", "adapter"] if i % 2 == 0 else ["adapter", "base"]
            for name in order:
                body = {"model": models[name], "prompt": text, "max_tokens": VLLM_TOKENS,
                        "temperature": 0, "ignore_eos": True}
                started = time.perf_counter()
                client.post("/v1/completions", json=body).raise_for_status()
                rows[name].append((time.perf_counter() - started,))
    return rows


def report(backend: str, rows: dict[str, list[tuple[float, ...]]]) -> None:
    for name, values in rows.items():
        lat = [v[0] for v in values]
        line = f"{backend:>9} {name:>7}: latency p50 {percentile(lat, 50):.3f} s, p95 " \
               f"{percentile(lat, 95):.3f} s"
        if len(values[0]) == 3:
            pre = [v[1] for v in values if v[1]]
            dec = [v[2] for v in values if v[2]]
            line += f"; prompt eval p50 {percentile(pre, 50):.0f} tok/s, decode p50 " \
                    f"{percentile(dec, 50):.1f} tok/s"
        print(line, flush=True)
    for i, what in enumerate(("latency", "prompt eval", "decode")[: len(rows["base"][0])]):
        base = percentile([v[i] for v in rows["base"] if v[i]], 50)
        tuned = percentile([v[i] for v in rows["adapter"] if v[i]], 50)
        change = tuned / base - 1 if i == 0 else base / tuned - 1  # speeds: slower is worse
        print(f"{backend:>9} overhead at p50, {what}: {100 * change:+.1f}%", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", type=Path, help="a codeslm tune adapter folder")
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vllm", action="store_true", help="measure vLLM's CPU build as well")
    args = parser.parse_args()
    texts = prompts(args.prompts, args.seed)
    print(f"# adapter overhead: {len(texts)} HumanEval FIM prompts (seed {args.seed}), greedy, "
          f"to the end of the line  commit {git_commit()}  {BASE} + {args.adapter}")
    print(f"# machine: {machine()}", flush=True)
    report("llama.cpp", asyncio.run(llama_rows(texts, args.adapter)))
    if args.vllm:
        report("vLLM", vllm_rows(texts, args.adapter))
    print(f"# load after: {machine().split('load avg ')[1]}")


if __name__ == "__main__":
    main()
