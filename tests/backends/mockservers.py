"""In-process imitations of vLLM and Ollama HTTP answers, for fast unit tests of the clients.

Every body here copies the documented wire format (vLLM ``vllm/entrypoints/openai/*protocol.py``
at v0.10+ and the older flat error object; Ollama ``docs/api.md``). The real-server tests in
this directory cover what an imitation cannot (llama-cpp-python's server, llama-server).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

VLLM_MODEL = "Qwen/Qwen2.5-Coder-1.5B"
# Ids of Qwen2.5-Coder's special tokens (from its tokenizer.json).
QWEN_SPECIAL = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
}


def qwen_tokenize(text: str) -> list[int]:
    """Qwen-like ids: special tokens are one id, other text one id per character."""
    ids: list[int] = []
    i = 0
    while i < len(text):
        for tok, tid in QWEN_SPECIAL.items():
            if text.startswith(tok, i):
                ids.append(tid)
                i += len(tok)
                break
        else:
            ids.append(ord(text[i]))
            i += 1
    return ids


class TrackedStream(httpx.AsyncByteStream):
    """A response body that records whether the client closed it before the end."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.sent = 0
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.sent += 1
            yield chunk

    async def aclose(self) -> None:
        self.closed = True

    @property
    def closed_early(self) -> bool:
        return self.closed and self.sent < len(self.chunks)


def sse(events: list[Any]) -> list[bytes]:
    """SSE frames: dicts as JSON ``data:`` events, strings verbatim (``[DONE]``)."""
    return [f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events]


def vllm_completion_events(
    pieces: list[str], *, finish: str = "stop", usage: dict[str, Any] | None = None
) -> list[Any]:
    """The events of a streamed vLLM ``/v1/completions`` answer, ``[DONE]`` included."""

    def chunk(text: str, reason: str | None) -> dict[str, Any]:
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1,
            "model": VLLM_MODEL,
            "choices": [
                {
                    "index": 0,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": reason,
                    "stop_reason": None,
                }
            ],
            "usage": None,
        }

    events: list[Any] = [chunk(p, None) for p in pieces]
    events.append(chunk("", finish))
    events.append(
        {
            "id": "cmpl-1",
            "object": "text_completion",
            "created": 1,
            "model": VLLM_MODEL,
            "choices": [],
            "usage": usage
            or {
                "prompt_tokens": 40,
                "total_tokens": 40 + len(pieces),
                "completion_tokens": len(pieces),
                "prompt_tokens_details": {"cached_tokens": 32},
            },
        }
    )
    events.append("[DONE]")
    return events


_LABELS = 'engine="0",model_name="Qwen/Qwen2.5-Coder-1.5B"'
VLLM_METRICS = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{L}} 1.0
vllm:num_requests_waiting{{L}} 0.0
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{{L}} 1000.0
vllm:prefix_cache_queries_created{{L}} 1.7e9
# TYPE vllm:prefix_cache_hits counter
vllm:prefix_cache_hits_total{{L}} 750.0
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.01",{L}} 0.0
vllm:time_to_first_token_seconds_bucket{le="0.02",{L}} 10.0
vllm:time_to_first_token_seconds_bucket{le="0.04",{L}} 18.0
vllm:time_to_first_token_seconds_bucket{le="0.1",{L}} 20.0
vllm:time_to_first_token_seconds_bucket{le="+Inf",{L}} 20.0
vllm:time_to_first_token_seconds_count{{L}} 20.0
vllm:time_to_first_token_seconds_sum{{L}} 0.5
vllm:spec_decode_num_draft_tokens_total{{L}} 400.0
vllm:spec_decode_num_accepted_tokens_total{{L}} 100.0
""".replace("{L}", _LABELS)


@dataclass
class FakeVllm:
    """A scripted vLLM server: answers the documented endpoints, records every request."""

    completion_events: list[Any] = field(
        default_factory=lambda: vllm_completion_events(["a", " +", " b"])
    )
    status: int = 200
    error_body: dict[str, Any] | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    streams: list[TrackedStream] = field(default_factory=list)
    down: bool = False
    on_request: Callable[[httpx.Request], None] | None = None

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        self.requests.append(request)
        if self.on_request:
            self.on_request(request)
        path = request.url.path
        if path == "/v1/models":
            return httpx.Response(
                200,
                json={
                    "object": "list",
                    "data": [
                        {
                            "id": VLLM_MODEL,
                            "object": "model",
                            "created": 1,
                            "owned_by": "vllm",
                            "root": VLLM_MODEL,
                            "parent": None,
                            "max_model_len": 8192,
                            "permission": [],
                        }
                    ],
                },
            )
        if path == "/tokenize":
            body = json.loads(request.content)
            ids = qwen_tokenize(body["prompt"])
            return httpx.Response(
                200,
                json={"count": len(ids), "max_model_len": 8192, "tokens": ids, "token_strs": None},
            )
        if path == "/health":
            return httpx.Response(200)
        if path == "/metrics":
            return httpx.Response(200, text=VLLM_METRICS)
        if path in ("/v1/completions", "/v1/chat/completions"):
            if self.status != 200:
                return httpx.Response(self.status, json=self.error_body or {})
            stream = TrackedStream(sse(self.completion_events))
            self.streams.append(stream)
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=stream)
        return httpx.Response(404, json={"detail": "Not Found"})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


class Router:
    """Several fake servers behind one transport, chosen by the URL's port."""

    def __init__(self, servers: dict[int, FakeVllm]) -> None:
        self.servers = servers
        self.log: list[tuple[int, str]] = []  # (port, path) of every request that arrived

    def _handle(self, request: httpx.Request) -> httpx.Response:
        port = request.url.port or 80
        response = self.servers[port].handler(request)  # raises when that server is down
        self.log.append((port, request.url.path))
        return response

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)
