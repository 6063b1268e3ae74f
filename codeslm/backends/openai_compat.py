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

The served model and tokenizer are found by :mod:`.openai_served`; bodies and the event stream
are :mod:`.openai_stream`; this class ties them to the :class:`Backend` contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .. import fim
from ..config import Config
from ..errors import BackendRejected, BackendUnavailable, CodeslmError
from ..types import BackendHealth, Chunk, GenerationRequest, HealthStatus, ModelInfo
from . import served_fim
from .base import Backend
from .endpoints import Endpoint
from .httpclient import HttpClient
from .openai_served import (
    LLAMA_CPP_PYTHON,
    LLAMA_SERVER,
    UNKNOWN,
    VLLM,
    VLLM_MAX_STOP,
    ServedModel,
    ServerTokenizer,
    default_url,
    discover,
    pick_model,
    vllm_stops,
)
from .openai_stream import (
    chat_text,
    completion_text,
    diagnose_empty_stream,
    openai_stream,
    sampling_extras,
)

log = logging.getLogger(__name__)

# Re-exported: the flavours (vllm.py, llama_server.py) and tests import them from here.
__all__ = [
    "LLAMA_CPP_PYTHON",
    "LLAMA_SERVER",
    "UNKNOWN",
    "VLLM",
    "VLLM_MAX_STOP",
    "OpenAICompatBackend",
    "ServedModel",
    "default_url",
    "pick_model",
    "vllm_stops",
]


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
        self._tokenizer = ServerTokenizer(self.http)
        self._lock: asyncio.Lock | None = None

    @classmethod
    def default_url(cls, config: Config) -> str:
        return default_url(config)

    def _get_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    # -- served model and tokenizer ----------------------------------------------------------

    async def served_model(self) -> ServedModel:
        """The served model (asked once, from whichever endpoint answers first)."""
        if self._served is not None:
            return self._served
        async with self._get_lock():
            if self._served is None:
                self._served = await discover(self.http, self._config.model, self.server_kind)
        return self._served

    async def has_tokenizer(self) -> bool:
        """Whether the server exposes a tokenize endpoint (found once)."""
        if not self._tokenizer.probed:
            served = await self.served_model()
            async with self._get_lock():
                if not self._tokenizer.probed:
                    await self._tokenizer.probe(served)
        return self._tokenizer.available

    async def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        cached = self._tokenizer.cached(text)
        if cached is not None:
            return list(cached)
        if not await self.has_tokenizer():
            raise BackendRejected(
                f"{self.http.urls[0]} has no tokenize endpoint ({self._tokenizer.error})",
                hint="token counts are estimated; set completion.fim_format explicitly",
            )
        return await self._tokenizer.tokenize(text)

    def count_tokens_sync(self, text: str) -> int | None:
        """Exact when ``text`` was tokenized before (context blocks repeat between keystrokes);
        None otherwise, so the caller estimates instead of waiting on the network."""
        if not text:
            return 0
        cached = self._tokenizer.cached(text)
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
        return sampling_extras(request, kind)

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
                completion_text,
            )
        else:
            path, body, extract = (
                "/v1/chat/completions",
                self.chat_body(request, served),
                chat_text,
            )
        # aclosing: when our consumer stops, the inner stream (and its connection) must close
        # now, not whenever the garbage collector finalises it.
        inner_stream = openai_stream(self.http, path, body, request, extract)
        async with contextlib.aclosing(inner_stream) as inner:
            async for chunk in inner:
                yield chunk

    async def _diagnose_empty_stream(
        self, path: str, body: dict[str, Any], endpoint: Endpoint
    ) -> None:
        """See :func:`.openai_stream.diagnose_empty_stream` (always raises)."""
        await diagnose_empty_stream(self.http, path, body, endpoint)

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
