"""A backend for any OpenAI-compatible server: vLLM, llama.cpp's llama-server,
llama-cpp-python's server (``codeslm serve --backend llama-cpp``), and others.

- Raw prompts (FIM prompts rendered by codeslm) stream from ``/v1/completions``; chats from
  ``/v1/chat/completions``. Nothing is sent in ``suffix``: vLLM rejects it.
- Stop strings are applied on both sides (the server's list, and :class:`StopMatcher` here),
  so every server stops at the same place; stop token ids go to servers that take them.
- Closing the stream (``aclose()``, task cancellation) closes the HTTP connection, which is how
  vLLM and llama.cpp servers learn to stop generating.
- The served model and the server kind come from ``GET /v1/models`` (vLLM says
  ``owned_by: vllm`` and gives ``max_model_len``; llama-server says ``llamacpp``;
  llama-cpp-python says ``me``). The kind selects the tokenize endpoint and neutral sampling
  extras (no repetition penalty, no min-p), so a greedy completion matches the embedded one.
- Several URLs: per-repository affinity and failover, see :mod:`codeslm.backends.endpoints`.
  Requests carry ``X-Session-ID`` (a hash of the affinity key) for vllm-router.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from cachetools import LRUCache

from .. import fim
from ..config import Config
from ..errors import (
    BackendError,
    BackendProtocolError,
    BackendRejected,
    BackendUnavailable,
    CodeslmError,
)
from ..types import BackendHealth, Chunk, GenerationRequest, HealthStatus, ModelInfo, Usage
from . import served_fim
from .base import Backend
from .endpoints import Endpoint
from .grammar import leading_identifier
from .httpclient import HttpClient, StopMatcher, parse_event, sse_data, stream_error

log = logging.getLogger(__name__)

VLLM = "vllm"
LLAMA_SERVER = "llama-server"
LLAMA_CPP_PYTHON = "llama-cpp-python"
UNKNOWN = "unknown"

_OWNED_BY_KIND = {"vllm": VLLM, "llamacpp": LLAMA_SERVER, "me": LLAMA_CPP_PYTHON}
_TOKENIZE_CACHE = 2048  # texts; sentinels and repeated context blocks hit it


def default_url(config: Config) -> str:
    """Where ``codeslm serve`` listens with this config (the default server URL)."""
    host = config.serve.host
    if host in {"", "0.0.0.0", "::", "[::]"}:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{config.serve.port}"


@dataclass(frozen=True, slots=True)
class ServedModel:
    """What ``/v1/models`` told us: the model id to send, the server kind, the context length."""

    id: str
    kind: str
    context_length: int | None
    ids: tuple[str, ...]


VLLM_MAX_STOP = 4


def vllm_stops(stops: Sequence[str]) -> list[str]:
    """At most :data:`VLLM_MAX_STOP` stop strings for vLLM, plain text first: special tokens
    (``<|endoftext|>``) never reach its detokenized text, and ``stop_token_ids`` covers them."""
    ranked = sorted(stops, key=lambda s: s.startswith("<|") and s.endswith("|>"))
    return ranked[:VLLM_MAX_STOP]


def pick_model(wanted: str, ids: list[str], url: str) -> str:
    """The served id to use: ``wanted`` if served, else the only one, else an error."""
    if wanted in ids:
        return wanted
    if len(ids) == 1:
        return ids[0]
    lowered = {i.lower(): i for i in ids}
    if wanted.lower() in lowered:
        return lowered[wanted.lower()]
    if not ids:
        raise BackendRejected(f"{url} serves no model", hint="load a model into the server")
    raise BackendRejected(
        f"{url} serves several models and not {wanted!r}: {', '.join(ids)}",
        hint="pass --model with one of them",
    )


def _finish(reason: Any) -> str:
    return "length" if reason == "length" else "stop"


def _completion_text(choice: dict[str, Any]) -> str:
    text = choice.get("text")
    return text if isinstance(text, str) else ""


def _chat_text(choice: dict[str, Any]) -> str:
    delta = choice.get("delta") or {}
    text = delta.get("content") if isinstance(delta, dict) else None
    return text if isinstance(text, str) else ""


class OpenAICompatBackend(Backend):
    """See the module docstring. Subclasses pin ``server_kind`` and add flavour features."""

    name = "openai-compatible"
    server_kind: str | None = None  # None: detect from /v1/models

    def __init__(
        self, config: Config, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        urls = config.url or [self.default_url(config)]
        self.http = HttpClient(
            urls, api_key=config.api_key, timeout_s=config.request_timeout_s, transport=transport
        )
        self._served: ServedModel | None = None
        self._tokenizer: Callable[[str], Any] | None = None
        self._tokenizer_probed = False
        self._tokenizer_error = ""
        self._token_prefix: list[int] = []
        self._token_cache: LRUCache[str, tuple[int, ...]] = LRUCache(maxsize=_TOKENIZE_CACHE)
        self._lock: asyncio.Lock | None = None

    @classmethod
    def default_url(cls, config: Config) -> str:
        return default_url(config)

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- served model ------------------------------------------------------------------------

    async def served_model(self) -> ServedModel:
        """The served model (asked once, from whichever endpoint answers first)."""
        if self._served is not None:
            return self._served
        async with self._get_lock():
            if self._served is None:
                self._served = await self._discover()
        return self._served

    async def _discover(self) -> ServedModel:
        endpoint, data = await self.http.request_json("GET", "/v1/models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BackendProtocolError(f"{endpoint.url}/v1/models did not list models")
        ids = [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]
        chosen = pick_model(self._config.model, ids, endpoint.url)
        card = next(m for m in items if isinstance(m, dict) and m.get("id") == chosen)
        kind = self.server_kind or _OWNED_BY_KIND.get(str(card.get("owned_by")), UNKNOWN)
        length = card.get("max_model_len")
        context = int(length) if isinstance(length, int) and length > 0 else None
        if context is None and kind == LLAMA_SERVER:
            context = await self._llama_server_ctx(endpoint)
        log.info("%s serves %s (%s, context %s)", endpoint.url, chosen, kind, context)
        return ServedModel(chosen, kind, context, tuple(ids))

    async def _llama_server_ctx(self, endpoint: Endpoint) -> int | None:
        try:
            _, props = await self.http.request_json("GET", "/props", endpoints=[endpoint])
        except CodeslmError:
            return None
        settings = props.get("default_generation_settings", {}) if isinstance(props, dict) else {}
        n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
        return int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None

    # -- tokenizer -------------------------------------------------------------------------

    async def _find_tokenizer(self, served: ServedModel) -> None:
        """Pick the tokenize endpoint for the server kind (probing when unknown)."""
        candidates: list[tuple[str, Callable[[str], Any]]] = []
        vllm_style = (
            "/tokenize",
            lambda t: {"model": served.id, "prompt": t, "add_special_tokens": False},
        )
        llama_style = (
            "/tokenize",
            lambda t: {"content": t, "add_special": False, "parse_special": True},
        )
        extras_style = ("/extras/tokenize", lambda t: {"input": t, "model": served.id})
        if served.kind == VLLM:
            candidates = [vllm_style]
        elif served.kind == LLAMA_SERVER:
            candidates = [llama_style]
        elif served.kind == LLAMA_CPP_PYTHON:
            candidates = [extras_style]
        else:  # both /tokenize dialects accept the other's keys; try them in one request
            both = ("/tokenize", lambda t: {**vllm_style[1](t), **llama_style[1](t)})
            candidates = [both, extras_style]
        errors: list[str] = []
        for path, make_body in candidates:

            async def call(text: str, path: str = path, make_body: Any = make_body) -> list[int]:
                _, data = await self.http.request_json("POST", path, make_body(text))
                tokens = data.get("tokens") if isinstance(data, dict) else None
                if not isinstance(tokens, list):
                    raise BackendProtocolError(f"{path} answered without a token list")
                return [int(t["id"]) if isinstance(t, dict) else int(t) for t in tokens]

            try:
                # Some servers add BOS even when asked not to: learn what "" becomes, strip it.
                prefix = await call("")
            except BackendUnavailable:
                raise
            except BackendError as exc:  # 404, 405, 500...: this server has no such endpoint
                errors.append(f"{path}: {exc}")
                continue
            self._tokenizer = call
            self._token_prefix = prefix
            return
        self._tokenizer_error = "; ".join(errors) or "no tokenize endpoint"
        log.info("no tokenizer endpoint on %s: %s", self.http.urls[0], self._tokenizer_error)

    async def has_tokenizer(self) -> bool:
        """Whether the server exposes a tokenize endpoint (found once)."""
        if not self._tokenizer_probed:
            served = await self.served_model()
            async with self._get_lock():
                if not self._tokenizer_probed:
                    await self._find_tokenizer(served)
                    self._tokenizer_probed = True
        return self._tokenizer is not None

    async def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        cached = self._token_cache.get(text)
        if cached is not None:
            return list(cached)
        if not await self.has_tokenizer():
            raise BackendRejected(
                f"{self.http.urls[0]} has no tokenize endpoint ({self._tokenizer_error})",
                hint="token counts are estimated; set completion.fim_format explicitly",
            )
        assert self._tokenizer is not None
        ids = await self._tokenizer(text)
        prefix = self._token_prefix
        if prefix and ids[: len(prefix)] == prefix:
            ids = ids[len(prefix) :]
        self._token_cache[text] = tuple(ids)
        return ids

    def count_tokens_sync(self, text: str) -> int | None:
        """Exact when ``text`` was tokenized before (context blocks repeat between keystrokes);
        None otherwise, so the caller estimates instead of waiting on the network."""
        if not text:
            return 0
        cached = self._token_cache.get(text)
        return len(cached) if cached is not None else None

    async def fim_format_hint(self) -> str | None:
        """None when the tokenizer can decide (the engine asks it); else a guess from the name."""
        if await self.has_tokenizer():
            return None
        served = await self.served_model()
        guess = served_fim.guess_format_from_name(served.id)
        if guess is None:
            log.warning(
                "cannot tell the FIM format of %r: the server has no tokenize endpoint and the "
                "name is not one codeslm knows; completing from the prefix only (set "
                "completion.fim_format to fix this)",
                served.id,
            )
            return fim.PREFIX_ONLY
        log.warning(
            "FIM format of %r guessed from its name: %s (the server has no tokenize "
            "endpoint to confirm it)",
            served.id,
            guess,
        )
        return guess

    # -- generation ------------------------------------------------------------------------

    def sampling_extras(self, request: GenerationRequest, kind: str) -> dict[str, Any]:
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

    def _common_body(self, request: GenerationRequest, served: ServedModel) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": served.id,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(self.sampling_extras(request, served.kind))
        return body

    def completion_body(self, request: GenerationRequest, served: ServedModel) -> dict[str, Any]:
        """The ``/v1/completions`` body for a raw-prompt request."""
        return {**self._common_body(request, served), "prompt": request.prompt}

    def chat_body(self, request: GenerationRequest, served: ServedModel) -> dict[str, Any]:
        """The ``/v1/chat/completions`` body for a chat request."""
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        return {**self._common_body(request, served), "messages": messages}

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        served = await self.served_model()
        if request.prompt is not None:
            path, body, extract = (
                "/v1/completions",
                self.completion_body(request, served),
                _completion_text,
            )
        else:
            path, body, extract = (
                "/v1/chat/completions",
                self.chat_body(request, served),
                _chat_text,
            )
        # aclosing: when our consumer stops, the inner stream (and its connection) must close
        # now, not whenever the garbage collector finalises it.
        async with contextlib.aclosing(self._openai_stream(path, body, request, extract)) as inner:
            async for chunk in inner:
                yield chunk

    async def _openai_stream(
        self,
        path: str,
        body: dict[str, Any],
        request: GenerationRequest,
        extract: Callable[[dict[str, Any]], str],
    ) -> AsyncGenerator[Chunk, None]:
        started = time.perf_counter()
        stops = StopMatcher(request.stop)
        first: float | None = None
        events = 0
        pieces = 0
        finish: str | None = None
        usage: dict[str, Any] = {}
        done = False
        session = request.session or request.cache_key
        async with self.http.stream("POST", path, body, session_key=session) as (
            endpoint,
            response,
        ):
            async for payload in sse_data(response, endpoint.url):
                if payload.strip() == "[DONE]":
                    done = True
                    break
                event = parse_event(payload, endpoint.url)
                events += 1
                error = stream_error(event, endpoint.url)
                if error is not None:
                    raise error
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                choices = event.get("choices")
                if not isinstance(choices, list) or not choices:
                    continue
                choice = choices[0] if isinstance(choices[0], dict) else {}
                text = extract(choice)
                if choice.get("finish_reason") is None:
                    pieces += 1  # one event per generated token on the servers we know
                out = stops.feed(text)
                if out:
                    if first is None:
                        first = time.perf_counter() - started
                    yield Chunk(out)
                if stops.hit:
                    finish = "stop"
                    break  # closing the stream below tells the server to stop
                if choice.get("finish_reason") is not None:
                    finish = _finish(choice["finish_reason"])
            if finish is None and not done:
                if events == 0:
                    await self._diagnose_empty_stream(path, body, endpoint)
                raise BackendProtocolError(
                    f"{endpoint.url} ended the stream before the generation finished",
                    hint="the server may have crashed or hit an internal error; check its log",
                )
        tail = stops.flush()
        if tail:
            if first is None:
                first = time.perf_counter() - started
            yield Chunk(tail)
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, dict) else None
        yield Chunk(
            "",
            finish or "stop",
            Usage(
                prompt_tokens=usage.get("prompt_tokens"),
                completion_tokens=usage.get("completion_tokens", pieces),
                cached_prompt_tokens=cached,
                time_to_first_token_s=first,
                total_s=time.perf_counter() - started,
            ),
        )

    async def _diagnose_empty_stream(
        self, path: str, body: dict[str, Any], endpoint: Endpoint
    ) -> None:
        """A stream that closed without one event: ask again without streaming for the error.

        llama-cpp-python's server answers 200 and then fails inside the stream (for example on
        an over-long prompt); the same request without streaming returns the real 4xx error.
        One generated token at most, so the probe is cheap.
        """
        probe = {k: v for k, v in body.items() if k not in {"stream", "stream_options"}}
        probe["max_tokens"] = 1
        async with self.http.stream("POST", path, probe, endpoints=[endpoint]) as (_, response):
            await response.aread()
        raise BackendProtocolError(f"{endpoint.url} closed the stream without sending anything")

    # -- health and information ----------------------------------------------------------

    async def _probe(self, endpoint: Endpoint) -> tuple[HealthStatus, str, float]:
        started = time.perf_counter()
        for path in ("/health", "/v1/models"):
            try:
                status, body = await self.http.get_text(endpoint, path)
            except BackendUnavailable as exc:
                return HealthStatus.DOWN, exc.message, time.perf_counter() - started
            if status == 404:
                continue  # llama-cpp-python has no /health
            elapsed = time.perf_counter() - started
            if status == 200:
                return HealthStatus.READY, "ready", elapsed
            if status == 503 and "load" in body.lower():
                return HealthStatus.LOADING, "loading the model", elapsed
            return HealthStatus.ERROR, f"{path} answered HTTP {status}", elapsed
        return HealthStatus.ERROR, "no health endpoint answered", time.perf_counter() - started

    async def health(self) -> BackendHealth:
        endpoints = self.http.pool.endpoints
        results = await asyncio.gather(*(self._probe(e) for e in endpoints))
        states = [r[0] for r in results]
        detail = "; ".join(f"{e.url}: {r[1]}" for e, r in zip(endpoints, results, strict=True))
        latency = min(r[2] for r in results)
        if HealthStatus.READY in states:
            model = None
            try:
                model = (await self.served_model()).id
            except CodeslmError as exc:
                return BackendHealth(HealthStatus.ERROR, f"{detail}; {exc}", None, latency)
            return BackendHealth(HealthStatus.READY, detail, model, latency)
        for status in (HealthStatus.LOADING, HealthStatus.ERROR):
            if status in states:
                return BackendHealth(status, detail, None, latency)
        return BackendHealth(HealthStatus.DOWN, detail, None, latency)

    async def model_info(self) -> ModelInfo:
        served = await self.served_model()
        meta = {"server": ", ".join(self.http.urls), "server_kind": served.kind}
        context = served.context_length
        if context is None:
            # llama-cpp-python does not report its n_ctx; codeslm serve uses the config's.
            context = self._config.n_ctx
            meta["context_length_source"] = "config n_ctx (the server does not report it)"
        return ModelInfo(name=served.id, context_length=context, metadata=meta)

    async def detected_fim_format(self) -> tuple[fim.FimFormat, str]:
        """The served model's FIM format and how it was found (for diagnostics)."""
        served = await self.served_model()
        guess = served_fim.guess_format_from_name(served.id)
        if await self.has_tokenizer():
            counts = {
                tok: len(await self.tokenize(tok))
                for f in fim.load_formats().values()
                for tok in f.detect
            }
            fmt = fim.detect_format(lambda tok: counts[tok])
            how = "from the tokenizer"
            if guess and guess != fmt.name:
                how += f" (the name suggests {guess}; the vocabulary wins)"
            return fmt, how
        name = guess or fim.PREFIX_ONLY
        return fim.get_format(name), "guessed from the model name (no tokenize endpoint)"

    async def diagnostics(self) -> dict[str, str]:
        out: dict[str, str] = {}
        try:
            served = await self.served_model()
        except CodeslmError as exc:
            return {"server": str(exc)}
        context = served.context_length
        out["server"] = f"{', '.join(self.http.urls)} ({served.kind}); model {served.id}" + (
            f", context {context:,}" if context else ""
        )
        if self._config.model not in served.ids and len(served.ids) == 1:
            out["server"] += (
                f" (the configured model {self._config.model!r} is not served; using it)"
            )
        try:
            fmt, how = await self.detected_fim_format()
            test = await served_fim.self_test(self, fmt)
            out["FIM format"] = f"{fmt.name}, {how}"
            out["FIM self-test"] = ("ok: " if test.ok else "PROBLEM: ") + test.detail
        except CodeslmError as exc:
            out["FIM format"] = f"unknown: {exc}"
        return out

    async def aclose(self) -> None:
        await self.http.aclose()
