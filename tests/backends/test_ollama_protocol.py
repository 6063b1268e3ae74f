"""The Ollama backend against Ollama's documented native API (docs/api.md)."""

from __future__ import annotations

import json

import httpx
import pytest

from codeslm.backends.ollama import OllamaBackend, choose_model, tag_candidates
from codeslm.config import Config
from codeslm.engine import CompletionEngine
from codeslm.errors import BackendRejected
from codeslm.types import ChatMessage, Document, GenerationRequest, Position

PULLED = ["qwen2.5-coder:1.5b", "llama3.2:latest"]


class FakeOllama:
    def __init__(self, pieces: list[str], *, done_reason: str = "stop") -> None:
        self.pieces = pieces
        self.done_reason = done_reason
        self.requests: list[httpx.Request] = []

    def bodies(self, path: str) -> list[dict[str, object]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/api/tags":
            return httpx.Response(
                200,
                json={
                    "models": [
                        {"name": n, "model": n, "size": 1, "details": {"family": "qwen2"}}
                        for n in PULLED
                    ]
                },
            )
        if path == "/api/version":
            return httpx.Response(200, json={"version": "0.6.2"})
        if path == "/api/show":
            return httpx.Response(
                200,
                json={
                    "template": "{{ .Prompt }}",
                    "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
                },
            )
        if path in ("/api/generate", "/api/chat"):
            key = "response" if path == "/api/generate" else "message"
            lines = []
            for piece in self.pieces:
                value = piece if key == "response" else {"role": "assistant", "content": piece}
                lines.append(
                    {
                        "model": PULLED[0],
                        "created_at": "2025-01-01T00:00:00Z",
                        key: value,
                        "done": False,
                    }
                )
            last_value = "" if key == "response" else {"role": "assistant", "content": ""}
            lines.append(
                {
                    "model": PULLED[0],
                    "created_at": "2025-01-01T00:00:01Z",
                    key: last_value,
                    "done": True,
                    "done_reason": self.done_reason,
                    "total_duration": 10,
                    "load_duration": 1,
                    "prompt_eval_count": 26,
                    "prompt_eval_duration": 5,
                    "eval_count": len(self.pieces),
                    "eval_duration": 4,
                }
            )
            body = "".join(json.dumps(line) + "\n" for line in lines)
            return httpx.Response(
                200, headers={"content-type": "application/x-ndjson"}, content=body.encode()
            )
        if path == "/api/tokenize":
            return httpx.Response(404, text="404 page not found")
        return httpx.Response(404, json={"error": "not found"})


def make(server: FakeOllama, model: str = "qwen2.5-coder-1.5b") -> OllamaBackend:
    config = Config(backend="ollama", model=model)
    return OllamaBackend(config, transport=httpx.MockTransport(server.handler))


def test_model_names_map_to_ollama_tags() -> None:
    assert tag_candidates("qwen2.5-coder-1.5b")[:2] == ["qwen2.5-coder-1.5b", "qwen2.5-coder:1.5b"]
    assert choose_model("qwen2.5-coder-1.5b", PULLED, "u") == "qwen2.5-coder:1.5b"
    assert choose_model("llama3.2", PULLED, "u") == "llama3.2:latest"
    with pytest.raises(BackendRejected, match=r"pulled: qwen2\.5-coder:1\.5b") as info:
        choose_model("starcoder2-3b", PULLED, "u")
    assert info.value.hint and "ollama pull starcoder2:3b" in info.value.hint


async def test_raw_generate_with_options_and_usage() -> None:
    server = FakeOllama(["a", " +", " b"])
    backend = make(server)
    request = GenerationRequest(
        prompt="<|fim_prefix|>x<|fim_suffix|>y<|fim_middle|>", max_tokens=24, stop=("\n\n",), seed=3
    )
    result = await backend.generate(request)
    await backend.aclose()
    assert result.text == "a + b" and result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 26 and result.usage.completion_tokens == 3
    body = server.bodies("/api/generate")[0]
    assert body["raw"] is True  # no template: codeslm's FIM layout reaches the model as is
    assert body["model"] == "qwen2.5-coder:1.5b" and body["prompt"] == request.prompt
    options = body["options"]
    assert isinstance(options, dict)
    assert options["num_predict"] == 24 and options["stop"] == ["\n\n"] and options["seed"] == 3
    assert options["num_ctx"] == 4096  # always sent: Ollama truncates silently otherwise
    assert options["repeat_penalty"] == 1.0 and options["temperature"] == 0.0


async def test_chat_and_length_finish() -> None:
    server = FakeOllama(["def", " f"], done_reason="length")
    backend = make(server)
    result = await backend.generate(GenerationRequest(messages=(ChatMessage("user", "f"),)))
    await backend.aclose()
    assert result.text == "def f" and result.finish_reason == "length"
    assert server.bodies("/api/chat")[0]["messages"] == [{"role": "user", "content": "f"}]


async def test_engine_uses_the_name_hint_without_a_tokenizer() -> None:
    server = FakeOllama(["a + b"])
    backend = make(server)
    with pytest.raises(BackendRejected):
        await backend.tokenize("x")
    engine = CompletionEngine(backend, backend._config)
    assert (await engine.fim_format()).name == "qwen2.5-coder"
    await engine.complete(
        Document("def add(a, b):\n    return \n", "m.py", "python"), Position(1, 11)
    )
    prompt = server.bodies("/api/generate")[-1]["prompt"]
    assert isinstance(prompt, str) and prompt.startswith("<|fim_prefix|>")
    assert "/api/tokenize" not in {r.url.path for r in server.requests}
    await backend.aclose()


async def test_unknown_model_name_falls_back_to_prefix_only_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FakeOllama(["x"])
    backend = make(server, model="llama3.2")
    assert await backend.fim_format_hint() == "prefix-only"
    assert "cannot tell the FIM format" in caplog.text
    await backend.aclose()


async def test_health_model_info_and_doctor_lines() -> None:
    server = FakeOllama(["a + b"])
    backend = make(server)
    health = await backend.health()
    assert health.status.value == "ready" and health.model == "qwen2.5-coder:1.5b"
    info = await backend.model_info()
    assert info.context_length == 4096  # the window codeslm asks for, below the model's 32k
    lines = await backend.diagnostics()
    assert lines["FIM format"].startswith("qwen2.5-coder, guessed from the model name")
    assert lines["FIM self-test"].startswith("ok:")
    await backend.aclose()


async def test_ollama_errors_are_mapped() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": [{"name": "qwen2.5-coder:1.5b"}]})
        return httpx.Response(
            404, json={"error": 'model "qwen2.5-coder:1.5b" not found, try pulling it first'}
        )

    backend = OllamaBackend(
        Config(backend="ollama", model="qwen2.5-coder:1.5b"), transport=httpx.MockTransport(handler)
    )
    with pytest.raises(BackendRejected, match="try pulling it first"):
        await backend.generate(GenerationRequest(prompt="p"))
    await backend.aclose()
