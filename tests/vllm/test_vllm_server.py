"""codeslm against a real vLLM server (the CPU build) started by ``codeslm serve --backend vllm``.

One server for the whole module (see conftest.py); the tests run in file order and the last one
kills vLLM mid-stream on purpose.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from codeslm.backends.vllm import VllmBackend
from codeslm.config import Config
from codeslm.errors import ContextTooLong
from codeslm.types import GenerationRequest

from .conftest import REPO, TEST_MODEL, VllmServer, client_env
from .relay import relay

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(900)]

MODEL = TEST_MODEL  # the suite's model (conftest), served under its codeslm name


def _cli(
    server: VllmServer, home: Path, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeslm", *args, "--backend", "vllm", "--url", server.url],
        cwd=REPO,
        env=client_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _backend(server: VllmServer) -> VllmBackend:
    return VllmBackend(Config(backend="vllm", url=[server.url], model=MODEL))


def test_codeslm_serve_starts_vllm_cpu_and_detects_fim_through_its_tokenizer(
    vllm_server: VllmServer,
) -> None:
    text = vllm_server.stderr
    assert "vLLM CPU build" in text and "eager mode" in text
    assert "FIM self-test: ok" in text and "format from the tokenizer" in text, text[-2000:]
    models = httpx.get(vllm_server.url + "/v1/models", timeout=10, trust_env=False).json()
    card = models["data"][0]
    assert card["id"] == MODEL and card["owned_by"] == "vllm"

    async def detect() -> tuple[str, str]:
        backend = _backend(vllm_server)
        try:
            fmt, how = await backend.detected_fim_format()
            return fmt.name, how
        finally:
            await backend.aclose()

    name, how = asyncio.run(detect())
    assert name == "qwen2.5-coder" and how == "from the tokenizer"


def test_complete_through_the_cli(vllm_server: VllmServer, tmp_path: Path) -> None:
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    return \n\n\nprint(add(1, 2))\n")
    result = _cli(vllm_server, tmp_path / "home", "complete", "--json", f"{source}:2:12")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert "a + b" in answer["text"] or "a+b" in answer["text"], answer


def test_chat_generation_through_the_cli(vllm_server: VllmServer, tmp_path: Path) -> None:
    result = _cli(
        vllm_server,
        tmp_path / "home",
        "gen",
        "-x",
        "--max-tokens",
        "96",
        "a Python function is_even(n) that returns whether n is even",
    )
    assert result.returncode == 0, result.stderr
    code = result.stdout
    assert code.lstrip().startswith("def ") and "% 2" in code, code


def test_token_budgets_come_from_the_servers_tokenizer(vllm_server: VllmServer) -> None:
    text = "def fibonacci(n):\n    return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2)\n"

    async def count() -> tuple[int, int | None]:
        backend = _backend(vllm_server)
        try:
            ids = await backend.tokenize(text)
            info = await backend.model_info()
            return len(ids), info.context_length
        finally:
            await backend.aclose()

    counted, context = asyncio.run(count())
    direct = httpx.post(
        vllm_server.url + "/tokenize",
        json={"model": MODEL, "prompt": text, "add_special_tokens": False},
        timeout=30,
        trust_env=False,
    ).json()
    assert counted == direct["count"] > 10
    assert context == direct["max_model_len"]


def test_an_over_long_prompt_is_a_clear_error(vllm_server: VllmServer) -> None:
    async def run() -> None:
        backend = _backend(vllm_server)
        try:
            await backend.generate(GenerationRequest(prompt="x = 1\n" * 6000, max_tokens=4))
        finally:
            await backend.aclose()

    with pytest.raises(ContextTooLong) as caught:
        asyncio.run(run())
    message = str(caught.value)
    assert "\n" not in message and "context" in message


def test_the_member_constraint_reaches_vllm_as_structured_output(
    vllm_server: VllmServer,
) -> None:
    prompt = "items = [3, 1, 2]\nitems."

    async def run(members: tuple[str, ...]) -> str:
        backend = _backend(vllm_server)
        try:
            request = GenerationRequest(
                prompt=prompt, max_tokens=6, temperature=0.0, first_identifier=members
            )
            return (await backend.generate(request)).text
        finally:
            await backend.aclose()

    free = asyncio.run(run(()))
    constrained = asyncio.run(run(("reverse", "clear")))
    assert constrained.startswith(("reverse", "clear")), (free, constrained)
    assert not free.startswith(("reverse", "clear"))  # the grammar changed the answer


def test_closing_a_stream_stops_the_work_on_the_server(vllm_server: VllmServer) -> None:
    """Cancellation: after the client closes the stream, vLLM's running count is back to 0 and
    it generates no more tokens."""

    async def run() -> tuple[float, float]:
        backend = _backend(vllm_server)
        try:
            request = GenerationRequest(
                prompt="# a long list of prime numbers\nprimes = [",
                max_tokens=400,
                temperature=0.0,
            )
            chunks = 0
            stream = backend.stream(request)
            async for _chunk in stream:
                chunks += 1
                if chunks == 3:
                    break
            running = vllm_server.metric("vllm:num_requests_running")
            await stream.aclose()  # type: ignore[attr-defined]
            return running, time.monotonic()
        finally:
            await backend.aclose()

    before = vllm_server.metric("vllm:generation_tokens_total")
    running_during, closed_at = asyncio.run(run())
    assert running_during == 1
    deadline = closed_at + 5.0
    while vllm_server.metric("vllm:num_requests_running") != 0:
        assert time.monotonic() < deadline, "vLLM still runs the request 5 s after the close"
        time.sleep(0.1)
    stopped_after = time.monotonic() - closed_at
    generated = vllm_server.metric("vllm:generation_tokens_total") - before
    time.sleep(2.0)
    assert vllm_server.metric("vllm:generation_tokens_total") - before == generated
    assert generated < 400, f"{generated} tokens: the request ran to its end"
    print(f"stopped {stopped_after:.2f} s after the close, {generated:.0f} tokens generated")


def test_doctor_reports_the_prefix_cache_hit_rate(vllm_server: VllmServer, tmp_path: Path) -> None:
    # Two equal prompts of several 128-token blocks: the second is served from the cache.
    prompt = "".join(f"def f{i}(x):\n    return x * {i}\n\n" for i in range(60))
    for _ in range(2):
        httpx.post(
            vllm_server.url + "/v1/completions",
            json={"model": MODEL, "prompt": prompt, "max_tokens": 1, "temperature": 0},
            timeout=300,
            trust_env=False,
        ).raise_for_status()
    assert vllm_server.metric("vllm:prefix_cache_hits_total") >= 256
    result = _cli(vllm_server, tmp_path / "home", "doctor", "--no-speed")
    line = next((ln for ln in result.stdout.splitlines() if "prefix cache" in ln), "")
    assert "hit rate" in line and "hit rate 0%" not in line, result.stdout


def test_one_completion_through_a_real_language_server(
    vllm_server: VllmServer, tmp_path: Path
) -> None:
    from lsp_harness import inline_params, lsp_session, server_env

    async def run() -> str:
        root = tmp_path / "proj"
        root.mkdir()
        env = server_env(
            tmp_path / "lsp-home",
            CODESLM_BACKEND="vllm",
            CODESLM_URL=vllm_server.url,
            CODESLM_CONTEXT_ENABLED="false",
        )
        async with lsp_session(root, env) as ed:
            uri = ed.open("calc.py", "def add(a, b):\n    return \n")
            await ed.wait_status("ready", "slow", "error", timeout=120)
            answer = await ed.client.text_document_inline_completion_async(
                inline_params(uri, 1, 11, invoked=True)
            )
            assert answer is not None and answer.items, ed.statuses[-3:]
            return str(answer.items[0].insert_text)

    text = asyncio.run(run())
    assert "a + b" in text or "a+b" in text, text


def test_vllm_killed_mid_stream_is_a_one_line_error(
    vllm_server: VllmServer, tmp_path: Path
) -> None:
    """Last on purpose: it kills the session's server."""
    source = tmp_path / "primes.py"
    source.write_text("# the first 200 prime numbers, one per line\nPRIMES = [\n")
    killed = threading.Event()

    def kill_vllm() -> None:  # as the first streamed token reaches the client
        os.killpg(vllm_server.pid, signal.SIGKILL)
        killed.set()

    with relay(vllm_server.url, kill_vllm) as url:
        client = subprocess.run(
            [
                sys.executable,
                "-m",
                "codeslm",
                "complete",
                "--backend",
                "vllm",
                "--url",
                url,
                "--mode",
                "multi-line",
                "--max-tokens",
                "400",
                f"{source}:3:1",
            ],
            cwd=REPO,
            env=client_env(tmp_path / "home"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
        )
    out, err = client.stdout, client.stderr
    assert killed.is_set(), (out, err)
    assert client.returncode != 0, out
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    # codeslm serve notices and says how vLLM ended, naming the log.
    vllm_server.process.wait(timeout=60)
    assert vllm_server.process.returncode != 0
    deadline = time.monotonic() + 10
    while not any("SIGKILL" in e for e in vllm_server.stderr_lines):
        assert time.monotonic() < deadline, vllm_server.stderr[-1500:]
        time.sleep(0.2)
