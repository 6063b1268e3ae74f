"""The vLLM flavour against vLLM's documented request and response formats (no GPU here)."""

from __future__ import annotations

import json

import httpx
import pytest

from codeslm import fim
from codeslm.backends import create_backend
from codeslm.backends.endpoints import session_header
from codeslm.backends.vllm import VllmBackend, describe, metrics_summary
from codeslm.config import Config
from codeslm.engine import CompletionEngine
from codeslm.errors import BackendError, BackendProtocolError, BackendRejected, ContextTooLong
from codeslm.types import ChatMessage, Document, GenerationRequest, Position

from .mockservers import (
    QWEN_SPECIAL,
    VLLM_METRICS,
    VLLM_MODEL,
    FakeVllm,
    sse,
    vllm_completion_events,
)

URL = "http://gpu-box:8000"


def backend_for(server: FakeVllm, **overrides: object) -> VllmBackend:
    config = Config(backend="vllm", url=[URL], **overrides)  # type: ignore[arg-type]
    return VllmBackend(config, transport=server.transport())


def test_the_registry_builds_every_http_flavour() -> None:
    for name, cls in [
        ("vllm", "VllmBackend"),
        ("openai-compatible", "OpenAICompatBackend"),
        ("llama-server", "LlamaServerBackend"),
        ("ollama", "OllamaBackend"),
    ]:
        backend = create_backend(Config(backend=name, url=["http://127.0.0.1:9"]))
        assert type(backend).__name__ == cls


async def test_completion_request_is_a_raw_prompt_with_vllm_fields() -> None:
    server = FakeVllm()
    backend = backend_for(server)
    request = GenerationRequest(
        prompt="<|fim_prefix|>x = <|fim_suffix|>\n<|fim_middle|>",
        max_tokens=16,
        stop=("\n\n", "<|file_sep|>"),
        stop_token_ids=(151643, 151664),
        session="/repo",
        seed=7,
    )
    result = await backend.generate(request)
    await backend.aclose()
    assert result.text == "a + b"
    assert result.finish_reason == "stop"
    assert result.usage.prompt_tokens == 40
    assert result.usage.completion_tokens == 3
    assert result.usage.cached_prompt_tokens == 32
    assert result.usage.time_to_first_token_s is not None
    body = server.bodies("/v1/completions")[0]
    assert body["model"] == VLLM_MODEL  # learnt from /v1/models, not the codeslm default name
    assert body["prompt"] == request.prompt and "suffix" not in body  # vLLM rejects suffix
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["stop"] == ["\n\n", "<|file_sep|>"]
    assert body["stop_token_ids"] == [151643, 151664]
    assert body["max_tokens"] == 16 and body["temperature"] == 0.0 and body["seed"] == 7
    assert body["top_k"] == -1 and body["repetition_penalty"] == 1.0 and body["min_p"] == 0.0
    call = next(r for r in server.requests if r.url.path == "/v1/completions")
    assert call.headers["X-Session-ID"] == session_header("/repo")
    assert "/repo" not in call.headers["X-Session-ID"]  # paths never leave the machine


async def test_chat_requests_use_chat_completions_and_deltas() -> None:
    def delta(text: str | None, reason: str | None = None) -> dict[str, object]:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": VLLM_MODEL,
            "choices": [
                {"index": 0, "delta": {"content": text}, "logprobs": None, "finish_reason": reason}
            ],
        }

    server = FakeVllm(
        completion_events=[
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": VLLM_MODEL,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": ""},
                        "finish_reason": None,
                    }
                ],
            },
            delta("def "),
            delta("f():"),
            delta(None, "length"),
            "[DONE]",
        ]
    )
    backend = backend_for(server)
    request = GenerationRequest(messages=(ChatMessage("user", "write f"),), max_tokens=3)
    result = await backend.generate(request)
    await backend.aclose()
    assert result.text == "def f():"
    assert result.finish_reason == "length"
    body = server.bodies("/v1/chat/completions")[0]
    assert body["messages"] == [{"role": "user", "content": "write f"}]
    assert "prompt" not in body


async def test_client_side_stop_cuts_text_and_closes_the_stream() -> None:
    server = FakeVllm(
        completion_events=vllm_completion_events(
            ["return a", " + b", "\n\n", "def", " other", "():"]
        )
    )
    backend = backend_for(server)
    result = await backend.generate(GenerationRequest(prompt="p", stop=("\n\n",)))
    await backend.aclose()
    assert result.text == "return a + b"
    assert result.finish_reason == "stop"
    assert server.streams[0].closed_early  # the connection was dropped: vLLM aborts the rest


async def test_stop_string_split_across_chunks_is_still_cut() -> None:
    server = FakeVllm(completion_events=vllm_completion_events(["x = 1<|file", "_sep|>junk"]))
    backend = backend_for(server)
    result = await backend.generate(GenerationRequest(prompt="p", stop=("<|file_sep|>",)))
    await backend.aclose()
    assert result.text == "x = 1"


async def test_closing_the_iterator_closes_the_http_stream() -> None:
    server = FakeVllm(completion_events=vllm_completion_events([f"t{i} " for i in range(50)]))
    backend = backend_for(server)
    stream = backend.stream(GenerationRequest(prompt="p", max_tokens=50))
    got = [await stream.__anext__() for _ in range(3)]
    await stream.aclose()
    await backend.aclose()
    assert "".join(c.text for c in got) == "t0 t1 t2 "
    assert server.streams[0].closed_early


@pytest.mark.parametrize(
    "error",
    [
        # vLLM >= 0.10: {"error": {...}}
        {
            "error": {
                "message": "This model's maximum context length is 8192 tokens. However, you "
                "requested 64 output tokens and your prompt contains at least 8200 input tokens, "
                "for a total of at least 8264 tokens.",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
        # older vLLM: a flat error object
        {
            "object": "error",
            "message": "The decoder prompt (length 9000) is longer than the maximum "
            "model length of 8192. Make sure that `max_model_len` is no smaller than the number of "
            "text tokens.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    ],
)
async def test_overlong_prompt_is_context_too_long(error: dict[str, object]) -> None:
    server = FakeVllm(status=400, error_body=error)
    backend = backend_for(server)
    with pytest.raises(ContextTooLong) as info:
        await backend.generate(GenerationRequest(prompt="x" * 100))
    await backend.aclose()
    assert "context window" in str(info.value)
    assert info.value.hint


async def test_suffix_rejection_and_unknown_model_are_rejected_not_retried() -> None:
    server = FakeVllm(
        status=400,
        error_body={
            "error": {
                "message": "suffix is not currently supported",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            }
        },
    )
    backend = backend_for(server)
    with pytest.raises(BackendRejected, match="suffix is not currently supported"):
        await backend.generate(GenerationRequest(prompt="p"))
    assert len(server.bodies("/v1/completions")) == 1
    server.status, server.error_body = (
        404,
        {
            "error": {
                "message": "The model `x` does not exist.",
                "type": "NotFoundError",
                "param": "model",
                "code": 404,
            }
        },
    )
    with pytest.raises(BackendRejected, match="does not exist"):
        await backend.generate(GenerationRequest(prompt="p"))
    await backend.aclose()


async def test_error_event_inside_the_stream_is_raised() -> None:
    server = FakeVllm(
        completion_events=[
            *vllm_completion_events(["a"])[:1],
            {
                "error": {
                    "message": "engine core died",
                    "type": "InternalServerError",
                    "param": None,
                    "code": 500,
                }
            },
        ]
    )
    backend = backend_for(server)
    with pytest.raises(BackendError, match="engine core died"):
        await backend.generate(GenerationRequest(prompt="p"))
    await backend.aclose()


async def test_malformed_and_truncated_streams_are_protocol_errors() -> None:
    server = FakeVllm(completion_events=[*vllm_completion_events(["a"])[:1], "{not json"])
    backend = backend_for(server)
    with pytest.raises(BackendProtocolError, match="malformed"):
        await backend.generate(GenerationRequest(prompt="p"))
    server.completion_events = vllm_completion_events(["a", "b"])[:2]  # no finish, no [DONE]
    with pytest.raises(BackendProtocolError, match="before the generation finished"):
        await backend.generate(GenerationRequest(prompt="p"))
    await backend.aclose()


async def test_tokenize_uses_vllm_tokenize_without_special_tokens_and_caches() -> None:
    server = FakeVllm()
    backend = backend_for(server)
    assert await backend.tokenize("<|fim_prefix|>") == [QWEN_SPECIAL["<|fim_prefix|>"]]
    assert await backend.tokenize("<|fim_prefix|>") == [QWEN_SPECIAL["<|fim_prefix|>"]]
    assert await backend.count_tokens("abc") == 3
    assert backend.count_tokens_sync("abc") == 3  # cached: exact without a round trip
    assert backend.count_tokens_sync("never seen") is None  # the engine estimates instead
    bodies = server.bodies("/tokenize")
    assert {"model": VLLM_MODEL, "prompt": "<|fim_prefix|>", "add_special_tokens": False} in bodies
    assert (
        sum(b["prompt"] == "<|fim_prefix|>" for b in bodies) == 1
    )  # the second came from the cache
    info = await backend.model_info()
    assert info.context_length == 8192 and info.name == VLLM_MODEL
    await backend.aclose()


async def test_engine_detects_qwen_fim_and_sends_stop_token_ids() -> None:
    server = FakeVllm(completion_events=vllm_completion_events(["a + b"]))
    backend = backend_for(server)
    engine = CompletionEngine(backend, backend._config)
    assert (await engine.fim_format()).name == "qwen2.5-coder"
    doc = Document("def add(a, b):\n    return \n", "m.py", "python")
    await engine.complete(doc, Position(1, 11))
    body = server.bodies("/v1/completions")[-1]
    assert body["prompt"].startswith("<|fim_prefix|>") and body["prompt"].endswith("<|fim_middle|>")
    assert QWEN_SPECIAL["<|file_sep|>"] in body["stop_token_ids"]
    assert QWEN_SPECIAL["<|endoftext|>"] in body["stop_token_ids"]
    await backend.aclose()


def test_metrics_summary_reads_hit_rate_ttft_and_speculation() -> None:
    m = metrics_summary(VLLM_METRICS)
    assert m.prefix_hit_rate == pytest.approx(0.75)
    assert m.ttft_mean == pytest.approx(0.025)
    assert 0.02 <= (m.ttft_p50 or 0) <= 0.04
    assert 0.04 <= (m.ttft_p95 or 0) <= 0.1
    assert m.spec_acceptance == pytest.approx(0.25)
    lines = describe(m)
    assert lines["prefix cache"].startswith("hit rate 75%")
    assert "first token" in lines and "speculation" in lines
    # A run's own numbers: counters minus an earlier scrape.
    earlier = VLLM_METRICS.replace(
        'queries_total{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B"} 1000.0',
        'queries_total{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B"} 900.0',
    )
    earlier = earlier.replace(
        'hits_total{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B"} 750.0',
        'hits_total{engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B"} 700.0',
    )
    delta = metrics_summary(VLLM_METRICS, before=earlier)
    assert delta.prefix_hit_rate == pytest.approx(0.5)


async def test_doctor_lines_include_prefix_cache_and_fim_self_test() -> None:
    server = FakeVllm(completion_events=vllm_completion_events(["a + b"]))
    backend = backend_for(server)
    lines = await backend.diagnostics()
    await backend.aclose()
    assert "vllm" in lines["server"] and VLLM_MODEL in lines["server"]
    assert lines["FIM format"].startswith("qwen2.5-coder, from the tokenizer")
    assert lines["FIM self-test"].startswith("ok:")
    assert lines["prefix cache"].startswith("hit rate 75%")
    # The self-test sent a rendered Qwen FIM prompt, not a chat.
    prompt = server.bodies("/v1/completions")[0]["prompt"]
    assert prompt.startswith("<|fim_prefix|>def add(a, b):")


async def test_health_reports_ready_with_the_served_model() -> None:
    server = FakeVllm()
    backend = backend_for(server)
    health = await backend.health()
    assert health.status.value == "ready" and health.model == VLLM_MODEL
    server.down = True
    backend2 = backend_for(server)
    health = await backend2.health()
    assert health.status.value == "down" and "connection refused" in health.detail
    await backend.aclose()
    await backend2.aclose()


def test_sse_frames_with_comments_and_multiline_data_parse() -> None:
    import asyncio

    from codeslm.backends.httpclient import sse_data

    lines = [": ping", 'data: {"a":', "data: 1}", "", "event: x", "data: [DONE]", ""]
    response = httpx.Response(
        200,
        headers={"content-type": "text/event-stream"},
        content="\n".join(lines).encode() + b"\n",
    )

    async def collect() -> list[str]:
        return [e async for e in sse_data(response, "http://test")]

    assert asyncio.run(collect()) == ['{"a":\n1}', "[DONE]"]


def test_fim_formats_the_vllm_client_can_name_are_real_formats() -> None:
    from codeslm.backends.served_fim import guess_format_from_name

    cases = {
        "Qwen/Qwen2.5-Coder-1.5B": "qwen2.5-coder",
        "qwen2.5-coder:1.5b-base": "qwen2.5-coder",
        "Qwen/Qwen3-Coder-30B-A3B-Instruct": "qwen2.5-coder",
        "bigcode/starcoder2-3b": "starcoder2",
        "bigcode/starcoderbase-1b": "starcoder",
        "deepseek-ai/deepseek-coder-1.3b-base": "deepseek-coder",
        "codellama/CodeLlama-7b-hf": "codellama",
        "google/codegemma-2b": "codegemma",
        "mistralai/Codestral-22B-v0.1": "codestral",
        "Qwen/CodeQwen1.5-7B": None,
        "meta-llama/Llama-3.1-8B": None,
    }
    for name, expected in cases.items():
        assert guess_format_from_name(name) == expected, name
        if expected:
            assert expected in fim.load_formats()


def test_request_bodies_are_json_serialisable_for_every_flavour() -> None:
    from codeslm.backends.openai_compat import LLAMA_CPP_PYTHON, LLAMA_SERVER, UNKNOWN, ServedModel

    backend = VllmBackend(Config(backend="vllm", url=[URL]))
    request = GenerationRequest(prompt="p", stop=("a",), stop_token_ids=(1,))
    for kind in ("vllm", LLAMA_SERVER, LLAMA_CPP_PYTHON, UNKNOWN):
        body = backend.completion_body(request, ServedModel("m", kind, None, ("m",)))
        json.dumps(body)
        assert ("stop_token_ids" in body) == (kind == "vllm")
        assert ("repeat_penalty" in body) == (kind in (LLAMA_SERVER, LLAMA_CPP_PYTHON))


def test_sse_helper_roundtrip() -> None:
    frames = sse([{"a": 1}, "[DONE]"])
    assert frames == [b'data: {"a": 1}\n\n', b"data: [DONE]\n\n"]
    assert httpx.Response(200, content=b"".join(frames)).text.count("data:") == 2


def test_vllm_gets_at_most_four_stop_strings_and_the_member_grammar() -> None:
    """vLLM 0.32 answers HTTP 400 to a fifth stop string (seen on the real CPU server; the real
    server tests in tests/vllm/ drive the same bodies)."""
    from codeslm.backends.openai_compat import ServedModel

    backend = VllmBackend(Config(backend="vllm", url=[URL]))
    stops = ("<|endoftext|>", "<|fim_prefix|>", "\n\n", "<|file_sep|>", "\nclass ", "<|im_end|>")
    request = GenerationRequest(prompt="p", stop=stops, first_identifier=("append", "extend"))
    body = backend.completion_body(request, ServedModel("m", "vllm", None, ("m",)))
    assert body["stop"][:2] == ["\n\n", "\nclass "] and len(body["stop"]) == 4
    grammar = body["structured_outputs"]["grammar"]
    assert grammar.startswith('root ::= ("append" | "extend") rest?')
    few = backend.completion_body(
        GenerationRequest(prompt="p", stop=("\n",)), ServedModel("m", "vllm", None, ("m",))
    )
    assert few["stop"] == ["\n"] and "structured_outputs" not in few
