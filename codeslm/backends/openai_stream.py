"""Request bodies for ``/v1/completions`` and ``/v1/chat/completions``, and reading their
server-sent events into :class:`Chunk`\\ s.

Stop strings are applied on both sides (the server's list, and :class:`StopMatcher` here), so
every server stops at the same place. Leaving the generator closes the HTTP stream, which is how
vLLM and llama.cpp servers learn to stop generating.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import BackendProtocolError
from ..types import Chunk, GenerationRequest, Usage
from .endpoints import Endpoint
from .grammar import leading_identifier
from .httpclient import HttpClient, parse_event, sse_data, stream_error
from .openai_served import LLAMA_CPP_PYTHON, LLAMA_SERVER, VLLM, VLLM_MAX_STOP, vllm_stops
from .stops import StopMatcher

Extract = Callable[[dict[str, Any]], str]


def sampling_extras(request: GenerationRequest, kind: str) -> dict[str, Any]:
    """Server-specific fields that make sampling neutral (as the embedded backend samples)."""
    if kind == VLLM:
        extras: dict[str, Any] = {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}
        if request.stop_token_ids:
            extras["stop_token_ids"] = list(request.stop_token_ids)
        if len(request.stop) > VLLM_MAX_STOP:
            # vLLM refuses more than 4 stop strings (HTTP 400); the stream's own stop
            # matcher still applies them all.
            extras["stop"] = vllm_stops(request.stop)
        if request.first_identifier:
            # vLLM takes the same grammar through its structured outputs (xgrammar).
            grammar = leading_identifier(request.first_identifier)
            extras["structured_outputs"] = {"grammar": grammar}
        return extras
    if kind in (LLAMA_SERVER, LLAMA_CPP_PYTHON):
        extras = {"min_p": 0.0, "repeat_penalty": 1.0, "top_k": 40}
        if kind == LLAMA_SERVER:
            extras["cache_prompt"] = True
        if request.first_identifier:
            extras["grammar"] = leading_identifier(request.first_identifier)
        return extras
    return {}


def finish_reason(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


def completion_text(choice: dict[str, Any]) -> str:
    text = choice.get("text")
    return text if isinstance(text, str) else ""


def chat_text(choice: dict[str, Any]) -> str:
    delta = choice.get("delta") or {}
    text = delta.get("content") if isinstance(delta, dict) else None
    return text if isinstance(text, str) else ""


@dataclass(slots=True)
class StreamProgress:
    """What the event loop has learned so far about one generation."""

    started: float = field(default_factory=time.perf_counter)
    first: float | None = None  # seconds to the first visible text
    events: int = 0
    pieces: int = 0  # one event per generated token on the servers we know
    finish: str | None = None
    done: bool = False  # the server sent [DONE]
    usage: dict[str, Any] = field(default_factory=dict)

    def saw_text(self) -> None:
        if self.first is None:
            self.first = time.perf_counter() - self.started


async def diagnose_empty_stream(
    http: HttpClient, path: str, body: dict[str, Any], endpoint: Endpoint
) -> None:
    """A stream that closed without one event: ask again without streaming for the error.

    llama-cpp-python's server answers 200 and then fails inside the stream (for example on
    an over-long prompt); the same request without streaming returns the real 4xx error.
    One generated token at most, so the probe is cheap. Always raises.
    """
    probe = {k: v for k, v in body.items() if k not in {"stream", "stream_options"}}
    probe["max_tokens"] = 1
    async with http.stream("POST", path, probe, endpoints=[endpoint]) as (_, response):
        await response.aread()
    raise BackendProtocolError(f"{endpoint.url} closed the stream without sending anything")


async def openai_stream(
    http: HttpClient,
    path: str,
    body: dict[str, Any],
    request: GenerationRequest,
    extract: Extract,
) -> AsyncGenerator[Chunk, None]:
    """Stream one OpenAI-style generation: text chunks, then a final chunk with its usage."""
    progress = StreamProgress()
    stops = StopMatcher(request.stop)
    session = request.session or request.cache_key
    async with http.stream("POST", path, body, session_key=session) as (endpoint, response):
        async for chunk in _read_events(response, endpoint.url, progress, stops, extract):
            yield chunk
        if progress.finish is None and not progress.done:
            if progress.events == 0:
                await diagnose_empty_stream(http, path, body, endpoint)
            raise BackendProtocolError(
                f"{endpoint.url} ended the stream before the generation finished",
                hint="the server may have crashed or hit an internal error; check its log",
            )
    tail = stops.flush()
    if tail:
        progress.saw_text()
        yield Chunk(tail)
    yield _final_chunk(progress)


async def _read_events(
    response: httpx.Response,
    url: str,
    progress: StreamProgress,
    stops: StopMatcher,
    extract: Extract,
) -> AsyncGenerator[Chunk, None]:
    """The visible text of each event, until [DONE], a finish reason or a stop string."""
    async for payload in sse_data(response, url):
        if payload.strip() == "[DONE]":
            progress.done = True
            return
        event = parse_event(payload, url)
        progress.events += 1
        error = stream_error(event, url)
        if error is not None:
            raise error
        if isinstance(event.get("usage"), dict):
            progress.usage = event["usage"]
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices:
            continue
        choice = choices[0] if isinstance(choices[0], dict) else {}
        if choice.get("finish_reason") is None:
            progress.pieces += 1
        out = stops.feed(extract(choice))
        if out:
            progress.saw_text()
            yield Chunk(out)
        if stops.hit:
            progress.finish = "stop"
            return  # the caller closes the stream, which tells the server to stop
        if choice.get("finish_reason") is not None:
            progress.finish = finish_reason(choice["finish_reason"])


def _final_chunk(progress: StreamProgress) -> Chunk:
    usage = progress.usage
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Chunk(
        "",
        progress.finish or "stop",
        Usage(
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens", progress.pieces),
            cached_prompt_tokens=cached,
            time_to_first_token_s=progress.first,
            total_s=time.perf_counter() - progress.started,
        ),
    )
