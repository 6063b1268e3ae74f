"""The llama-server flavour: request shapes (fast, imitated), and the real llama.cpp server when
one is installed (``llama-server`` on PATH or ``CODESLM_LLAMA_SERVER``)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from codeslm.backends.llama_server import LlamaServerBackend
from codeslm.config import Config
from codeslm.errors import ContextTooLong
from codeslm.types import ChatMessage, GenerationRequest

from .mockservers import TrackedStream, qwen_tokenize, sse
from .servers import Served, assert_closing_stops_generation, server_env, start_served

FIM = (
    "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n\n\nprint(add(2, 3))\n<|fim_middle|>"
)


class FakeLlamaServer:
    """Answers as llama.cpp's tools/server does (README: /completion, /tokenize, /v1/models)."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = pieces
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(
                200,
                json={
                    "object": "list",
                    "data": [
                        {
                            "id": "qwen2.5-coder-0.5b",
                            "object": "model",
                            "created": 1,
                            "owned_by": "llamacpp",
                            "meta": {"n_ctx_train": 32768},
                        }
                    ],
                },
            )
        if path == "/props":
            return httpx.Response(200, json={"default_generation_settings": {"n_ctx": 4096}})
        if path == "/tokenize":
            body = json.loads(request.content)
            return httpx.Response(200, json={"tokens": qwen_tokenize(body["content"])})
        if path == "/completion":
            events: list[object] = [
                {
                    "index": 0,
                    "content": p,
                    "tokens": [1],
                    "stop": False,
                    "id_slot": -1,
                    "tokens_predicted": i + 1,
                    "tokens_evaluated": 20,
                }
                for i, p in enumerate(self.pieces)
            ]
            events.append(
                {
                    "index": 0,
                    "content": "",
                    "tokens": [],
                    "id_slot": 0,
                    "stop": True,
                    "model": "qwen2.5-coder-0.5b",
                    "tokens_predicted": len(self.pieces),
                    "tokens_evaluated": 20,
                    "stop_type": "eos",
                    "stopping_word": "",
                    "tokens_cached": 19,
                    "timings": {
                        "cache_n": 16,
                        "prompt_n": 4,
                        "prompt_ms": 20.1,
                        "predicted_n": len(self.pieces),
                        "predicted_ms": 40.0,
                    },
                }
            )
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                stream=TrackedStream(sse(events)),
            )
        return httpx.Response(
            404,
            json={"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}},
        )


async def test_fim_uses_native_completion_with_cache_accounting() -> None:
    server = FakeLlamaServer(["a", " +", " b"])
    backend = LlamaServerBackend(
        Config(backend="llama-server", url=["http://127.0.0.1:8080"]),
        transport=httpx.MockTransport(server.handler),
    )
    result = await backend.generate(GenerationRequest(prompt=FIM, max_tokens=12, stop=("\n",)))
    assert result.text == "a + b" and result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 20 and result.usage.cached_prompt_tokens == 16
    assert result.usage.completion_tokens == 3
    body = json.loads(next(r for r in server.requests if r.url.path == "/completion").content)
    assert body["prompt"] == FIM and body["n_predict"] == 12 and body["cache_prompt"] is True
    assert body["top_k"] == 1 and body["repeat_penalty"] == 1.0 and body["min_p"] == 0.0
    assert (await backend.model_info()).context_length == 4096  # from /props
    assert await backend.tokenize("<|fim_middle|>") == [151660]
    await backend.aclose()


def test_chat_bodies_go_to_the_openai_route() -> None:
    backend = LlamaServerBackend(Config(backend="llama-server", url=["http://h:1"]))
    from codeslm.backends.openai_compat import ServedModel

    served = ServedModel("m", "llama-server", 4096, ("m",))
    body = backend.chat_body(GenerationRequest(messages=(ChatMessage("user", "hi"),)), served)
    assert body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["cache_prompt"] is True and body["repeat_penalty"] == 1.0


# -- the real server ----------------------------------------------------------------------------

LLAMA_SERVER = os.environ.get("CODESLM_LLAMA_SERVER") or shutil.which("llama-server")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[Served]:
    if not LLAMA_SERVER:
        pytest.skip("llama-server is not installed (set CODESLM_LLAMA_SERVER to test it)")
    env = server_env(
        tmp_path_factory.mktemp("ls-home"),
        model_path,
        CODESLM_N_CTX="1024",
        CODESLM_LLAMA_SERVER=LLAMA_SERVER,
        CODESLM_SERVE__STARTUP_TIMEOUT_S="240",
    )
    server = start_served(env, "--backend", "llama-server", "--no-self-test")
    yield server
    server.stop()


def client(real: Served) -> LlamaServerBackend:
    return LlamaServerBackend(Config(backend="llama-server", url=[real.url], n_ctx=1024))


@pytest.mark.model
async def test_real_fim_completion_reuses_the_prompt_cache(real: Served) -> None:
    backend = client(real)
    first = await backend.generate(GenerationRequest(prompt=FIM, max_tokens=12, stop=("\n",)))
    second = await backend.generate(GenerationRequest(prompt=FIM, max_tokens=12, stop=("\n",)))
    assert first.text.strip() == "a + b" == second.text.strip()
    assert second.usage.cached_prompt_tokens and second.usage.cached_prompt_tokens > 10
    assert (await backend.model_info()).context_length == 1024
    lines = await backend.diagnostics()
    assert lines["FIM format"].startswith("qwen2.5-coder, from the tokenizer")
    assert lines["FIM self-test"].startswith("ok:")
    assert lines["server /infill"].startswith("ok: `return a + b")
    assert "generated since start" in lines["metrics"]
    await backend.aclose()


@pytest.mark.model
async def test_real_overlong_prompt_and_cancellation(real: Served) -> None:
    backend = client(real)
    with pytest.raises(ContextTooLong):
        await backend.generate(GenerationRequest(prompt="x = 1\n" * 700, max_tokens=8))
    await assert_closing_stops_generation(real, backend)
    await backend.aclose()
