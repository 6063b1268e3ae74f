"""The OpenAI-compatible backend against a real server on loopback: llama-cpp-python's server,
started by ``codeslm serve --backend llama-cpp`` on the real default model.

One server is shared by the module (a model load per process); the failover and crash tests
start their own pair.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeslm.backends.openai_compat import OpenAICompatBackend
from codeslm.config import Config
from codeslm.errors import BackendUnavailable, ContextTooLong
from codeslm.types import ChatMessage, GenerationRequest
from tests.conftest import REPO, codeslm_command

from .servers import Served, assert_closing_stops_generation, server_env, start_served
from .test_serving import alive

pytestmark = pytest.mark.model

FIM = (
    "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n\n\nprint(add(2, 3))\n<|fim_middle|>"
)
N_CTX = 1024


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served-home")


@pytest.fixture(scope="module")
def served(home: Path, model_path: Path) -> Iterator[Served]:
    env = server_env(
        home, model_path, CODESLM_N_CTX=str(N_CTX), CODESLM_SERVE__STARTUP_TIMEOUT_S="240"
    )
    server = start_served(env, "--no-self-test")
    yield server
    server.stop()


def client(served: Served, **overrides: object) -> OpenAICompatBackend:
    config = Config(backend="openai-compatible", url=[served.url], n_ctx=N_CTX, **overrides)  # type: ignore[arg-type]
    return OpenAICompatBackend(config)


async def test_streams_a_fim_completion_in_pieces(served: Served) -> None:
    backend = client(served)
    chunks = [
        c async for c in backend.stream(GenerationRequest(prompt=FIM, max_tokens=12, stop=("\n",)))
    ]
    await backend.aclose()
    text = "".join(c.text for c in chunks)
    assert text.strip() == "a + b"
    assert len([c for c in chunks if c.text]) >= 2  # streamed, not one final blob
    assert chunks[-1].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.time_to_first_token_s is not None
    served_model = await OpenAICompatBackend(Config(url=[served.url])).served_model()
    assert served_model.kind == "llama-cpp-python"
    assert served_model.id.startswith("qwen2.5-coder-0.5b")


async def test_stop_strings_and_max_tokens(served: Served) -> None:
    backend = client(served)
    cut = await backend.generate(GenerationRequest(prompt=FIM, max_tokens=12, stop=(" +",)))
    assert cut.text == "a" and cut.finish_reason == "stop"
    long = await backend.generate(
        GenerationRequest(
            prompt="# Python: a list of the first 50 prime numbers\nPRIMES = [", max_tokens=6
        )
    )
    assert long.finish_reason == "length"
    assert long.usage.completion_tokens == 6
    await backend.aclose()


MEMBER = ("<|fim_prefix|>def summary(result):\n    x = result.<|fim_suffix|>\n"
          "    return x\n<|fim_middle|>")


async def test_the_first_identifier_constraint_reaches_the_server_as_a_grammar(
        served: Served) -> None:
    backend = client(served)
    free = await backend.generate(GenerationRequest(prompt=MEMBER, max_tokens=8, stop=("\n",)))
    names = ("final_output", "final_output_as", "to_input_list")
    assert not free.text.startswith(names)
    kept = await backend.generate(GenerationRequest(prompt=MEMBER, max_tokens=8, stop=("\n",),
                                                    first_identifier=names))
    await backend.aclose()
    assert kept.text.startswith(names), kept.text


async def test_tokenizer_is_exact_and_detects_qwen_fim(served: Served, model_path: Path) -> None:
    import llama_cpp

    vocab = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    text = "<|file_sep|>src/app.py\ndef main() -> None:\n    print('héllo')\n"
    expected = vocab.tokenize(text.encode(), add_bos=False, special=True)
    backend = client(served)
    assert await backend.tokenize(text) == expected
    fmt, how = await backend.detected_fim_format()
    assert fmt.name == "qwen2.5-coder" and how == "from the tokenizer"
    assert await backend.fim_format_hint() is None  # the engine detects from the vocabulary
    await backend.aclose()


async def test_chat_goes_through_the_chat_template(served: Served) -> None:
    backend = client(served)
    result = await backend.generate(
        GenerationRequest(
            messages=(
                ChatMessage("user", "Reply with only the Python expression that adds a and b."),
            ),
            max_tokens=16,
        )
    )
    await backend.aclose()
    assert "a + b" in result.text or "a+b" in result.text
    assert "<|im_start|>" not in result.text


async def test_overlong_prompt_is_context_too_long(served: Served) -> None:
    backend = client(served)
    prompt = "x = 1\n" * 700  # ~1,400 tokens > n_ctx 1024
    with pytest.raises(ContextTooLong, match="context"):
        await backend.generate(GenerationRequest(prompt=prompt, max_tokens=8))
    # The server survived and still answers.
    ok = await backend.generate(GenerationRequest(prompt=FIM, max_tokens=6, stop=("\n",)))
    assert ok.text.strip() == "a + b"
    await backend.aclose()


async def test_closing_the_stream_stops_the_work_on_the_server(served: Served) -> None:
    """Server-side proof: the server's CPU time stops growing once the client lets go."""
    backend = client(served)
    await assert_closing_stops_generation(served, backend)
    # And the next request is served at once (requests queue on this server).
    started = time.monotonic()
    ok = await backend.generate(GenerationRequest(prompt=FIM, max_tokens=6, stop=("\n",)))
    assert ok.text.strip() == "a + b"
    await backend.aclose()
    assert time.monotonic() - started < 30


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*codeslm_command(), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_complete_through_the_server_matches_the_embedded_model(
    served: Served, home: Path, model_path: Path, tmp_path: Path
) -> None:
    source = tmp_path / "fib.py"
    source.write_text(
        "def fibonacci(n):\n    if n < 2:\n        return n\n    return \n\n\n"
        "print(fibonacci(10))\n"
    )
    env = server_env(home, model_path, CODESLM_N_CTX=str(N_CTX))
    remote = _run_cli(
        [
            "complete",
            f"{source}:4:12",
            "--json",
            "--backend",
            "openai-compatible",
            "--url",
            served.url,
        ],
        env,
    )
    assert remote.returncode == 0, remote.stderr
    embedded = _run_cli(["complete", f"{source}:4:12", "--json"], env)
    assert embedded.returncode == 0, embedded.stderr
    remote_json, embedded_json = json.loads(remote.stdout), json.loads(embedded.stdout)
    assert remote_json["backend"] == "openai-compatible"
    assert "fibonacci(n - 1)" in remote_json["text"]
    assert remote_json["text"] == embedded_json["text"]  # greedy and neutral sampling on both


def test_cli_gen_and_doctor_through_the_server(
    served: Served, home: Path, model_path: Path
) -> None:
    env = server_env(
        home, model_path, CODESLM_BACKEND="openai-compatible", CODESLM_URL=served.url
    )  # the environment works like the flags
    gen = _run_cli(
        ["gen", "-x", "--max-tokens", "40", "a Python function add(a, b) that returns a + b"], env
    )
    assert gen.returncode == 0, gen.stderr
    assert "def add" in gen.stdout
    doctor = _run_cli(["doctor", "--no-speed"], env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    out = doctor.stdout
    assert "openai-compatible" in out and served.url in out
    assert "qwen2.5-coder" in out and "from the tokenizer" in out
    assert "FIM self-test ok: qwen2.5-coder: filled `return a + b`" in " ".join(out.split())


async def test_failover_affinity_and_a_server_dying_mid_stream(
    home: Path, model_path: Path
) -> None:
    env = server_env(home, model_path, CODESLM_N_CTX="512", CODESLM_SERVE__STARTUP_TIMEOUT_S="240")
    first, second = start_served(env, "--no-self-test"), start_served(env, "--no-self-test")
    try:
        backend = OpenAICompatBackend(Config(url=[first.url, second.url]))
        # The dead server must still be in its cool-down when the ranking is read below: on a
        # loaded machine the failover request alone took longer than the default 15 s.
        backend.http.pool.cooldown_s = 600.0
        request = GenerationRequest(prompt=FIM, max_tokens=6, stop=("\n",), session="/repo/a")
        await backend.generate(request)
        home_url = backend.http.pool.ranked("/repo/a")[0].url
        assert all(backend.http.pool.ranked("/repo/a")[0].url == home_url for _ in range(5))
        affine = first if home_url == first.url else second
        other = second if affine is first else first
        # The affine server dies while streaming to us: a clear error, no silent retry.
        stream = backend.stream(
            GenerationRequest(
                prompt="# A long tutorial about Python lists\n", max_tokens=300, session="/repo/a"
            )
        )
        got = 0
        with pytest.raises(BackendUnavailable, match=r"mid-stream|closed|ended"):
            async for chunk in stream:
                got += bool(chunk.text)
                if got == 2:
                    affine.crash()
        # The next request for that repository fails over to the live server.
        result = await backend.generate(request)
        assert result.text.strip() == "a + b"
        assert backend.http.pool.ranked("/repo/a")[0].url == other.url
        assert affine.proc.wait(timeout=30) == 4  # codeslm serve reports its server's death
        assert any("was killed by SIGKILL" in line for line in affine.stderr)
        await backend.aclose()
    finally:
        first.stop()
        second.stop()


def test_serve_self_test_and_clean_sigterm(home: Path, model_path: Path) -> None:
    env = server_env(home, model_path, CODESLM_N_CTX="512", CODESLM_SERVE__STARTUP_TIMEOUT_S="240")
    server = start_served(env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("serving;" in s for s in server.stderr):
        time.sleep(0.2)
    assert any(
        "FIM self-test: ok: qwen2.5-coder: filled `return a + b`" in s for s in server.stderr
    ), server.stderr
    assert any(f"--url {server.url}" in s for s in server.stdout)
    assert server.stop() == 0
    assert any(s.startswith("stopped llama-cpp (cleanly)") for s in server.stderr), server.stderr
    assert not alive(server.server_pid)  # the model server is gone too


async def test_language_server_completes_through_the_server(
    served: Served, home: Path, model_path: Path, tmp_path: Path
) -> None:
    import sys

    from lsprotocol import types as lsp
    from pytest_lsp import ClientServerConfig

    text = "def fibonacci(n):\n    if n < 2:\n        return n\n    return \n"
    (tmp_path / "fib.py").write_text(text)
    env = server_env(home, model_path, CODESLM_BACKEND="openai-compatible", CODESLM_URL=served.url)
    config = ClientServerConfig(
        server_command=[sys.executable, "-m", "codeslm", "lsp"], server_env=env
    )
    client = await config.start(devtools=None)
    try:
        caps = lsp.ClientCapabilities(
            text_document=lsp.TextDocumentClientCapabilities(
                inline_completion=lsp.InlineCompletionClientCapabilities()
            )
        )
        await client.initialize_session(
            lsp.InitializeParams(
                capabilities=caps,
                root_uri=tmp_path.as_uri(),
                workspace_folders=[lsp.WorkspaceFolder(uri=tmp_path.as_uri(), name="p")],
            )
        )
        uri = (tmp_path / "fib.py").as_uri()
        client.text_document_did_open(
            lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=text
                )
            )
        )
        params = lsp.InlineCompletionParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri),
            position=lsp.Position(line=3, character=11),
            context=lsp.InlineCompletionContext(
                trigger_kind=lsp.InlineCompletionTriggerKind.Invoked
            ),
        )
        deadline = time.monotonic() + 120
        items: list[lsp.InlineCompletionItem] = []
        while not items and time.monotonic() < deadline:  # the first call may find it loading
            result = await asyncio.wait_for(
                client.text_document_inline_completion_async(params), 120
            )
            items = list(result.items) if result is not None else []
            if not items:
                await asyncio.sleep(0.5)
        texts = [i.insert_text for i in items if isinstance(i.insert_text, str)]
        assert any("fibonacci(n - 1)" in t for t in texts), texts
        assert "/v1/completions" in served.log_text()  # it really went through the server
    finally:
        await asyncio.wait_for(client.shutdown_session(), 30)
        await client.stop()
