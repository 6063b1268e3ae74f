"""The Ollama backend (``--backend ollama``), on Ollama's native API.

- Raw (FIM) prompts: ``POST /api/generate`` with ``raw: true`` so Ollama applies no template
  and codeslm's own FIM layout reaches the model; chats: ``POST /api/chat``. Both stream
  newline-delimited JSON.
- ``options.num_ctx`` is always sent (the config's ``n_ctx``): Ollama's own default window is
  small and it truncates longer prompts silently, which would cut the FIM prefix.
- Ollama has no tokenize endpoint: token counts are estimates and the FIM format is guessed
  from the model name (``fim_format_hint``), with a logged warning; set
  ``completion.fim_format`` to pin it.
- Model names: the configured name, else the codeslm registry name with its size turned into
  a tag (``qwen2.5-coder-1.5b`` -> ``qwen2.5-coder:1.5b``), else an error listing the pulled
  models.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from .. import fim
from ..config import Config
from ..errors import BackendProtocolError, BackendRejected, CodeslmError
from ..types import BackendHealth, Chunk, GenerationRequest, HealthStatus, ModelInfo, Usage
from . import served_fim
from .base import Backend
from .httpclient import HttpClient, lines_of, parse_event, stream_error
from .stops import StopMatcher

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:11434"


def tag_candidates(model: str) -> list[str]:
    """Ollama names to look for, most specific first."""
    out = [model]
    if ":" not in model and "-" in model:
        head, _, size = model.rpartition("-")
        if size[:1].isdigit():
            out.append(f"{head}:{size}")
    if ":" not in model:
        out.append(f"{model}:latest")
    return out


def choose_model(model: str, pulled: list[str], url: str) -> str:
    """The pulled model to use for the configured ``model`` name."""
    for name in tag_candidates(model):
        if name in pulled:
            return name
    listing = ", ".join(pulled) if pulled else "none"
    raise BackendRejected(
        f"{url} has no model {model!r} (pulled: {listing})",
        hint=f"ollama pull {tag_candidates(model)[1]}, or pass --model with a pulled name",
    )


class OllamaBackend(Backend):
    """Ollama over HTTP; see the module docstring."""

    name = "ollama"

    def __init__(
        self, config: Config, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self.http = HttpClient(
            config.url or [DEFAULT_URL],
            api_key=config.api_key,
            timeout_s=config.request_timeout_s,
            transport=transport,
        )
        self._model: str | None = None
        self._context: int | None = None
        self._lock: asyncio.Lock | None = None

    async def served_model(self) -> str:
        """The Ollama model name requests use (resolved once)."""
        if self._model is not None:
            return self._model
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._model is None:
                endpoint, data = await self.http.request_json("GET", "/api/tags")
                models = data.get("models") if isinstance(data, dict) else None
                if not isinstance(models, list):
                    raise BackendProtocolError(f"{endpoint.url}/api/tags did not list models")
                pulled = [
                    str(m.get("name")) for m in models if isinstance(m, dict) and m.get("name")
                ]
                self._model = choose_model(self._config.model, pulled, endpoint.url)
        return self._model

    def options(self, request: GenerationRequest) -> dict[str, Any]:
        """Ollama ``options``: neutral sampling, the token limit and the context window."""
        greedy = request.temperature <= 0
        options: dict[str, Any] = {
            "num_predict": request.max_tokens,
            "temperature": request.temperature,
            "top_p": 1.0 if greedy else request.top_p,
            "top_k": 1 if greedy else 40,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "num_ctx": self._config.n_ctx,
        }
        if request.stop:
            options["stop"] = list(request.stop)
        if request.seed is not None:
            options["seed"] = request.seed
        return options

    def generate_body(self, request: GenerationRequest, model: str) -> tuple[str, dict[str, Any]]:
        """Path and body for ``request``."""
        if request.prompt is not None:
            return "/api/generate", {
                "model": model,
                "prompt": request.prompt,
                "raw": True,
                "stream": True,
                "options": self.options(request),
            }
        messages = [{"role": m.role, "content": m.content} for m in request.messages]
        return "/api/chat", {
            "model": model,
            "messages": messages,
            "stream": True,
            "options": self.options(request),
        }

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        model = await self.served_model()
        path, body = self.generate_body(request, model)
        started = time.perf_counter()
        stops = StopMatcher(request.stop)
        first: float | None = None
        final: dict[str, Any] | None = None
        session = request.session or request.cache_key
        async with self.http.stream("POST", path, body, session_key=session) as (
            endpoint,
            response,
        ):
            async for line in lines_of(response, endpoint.url):
                if not line.strip():
                    continue
                event = parse_event(line, endpoint.url)
                error = stream_error(event, endpoint.url)
                if error is not None:
                    raise error
                if path == "/api/generate":
                    text = event.get("response")
                else:
                    message = event.get("message") or {}
                    text = message.get("content") if isinstance(message, dict) else None
                out = stops.feed(text if isinstance(text, str) else "")
                if out:
                    first = first if first is not None else time.perf_counter() - started
                    yield Chunk(out)
                if event.get("done") is True:
                    final = event
                    break
                if stops.hit:
                    break
            if final is None and not stops.hit:
                raise BackendProtocolError(
                    f"{endpoint.url} ended the stream before it was done",
                    hint="check the Ollama server log",
                )
        tail = stops.flush()
        if tail:
            first = first if first is not None else time.perf_counter() - started
            yield Chunk(tail)
        final = final or {}
        finish = "length" if final.get("done_reason") == "length" else "stop"
        yield Chunk(
            "",
            finish,
            Usage(
                prompt_tokens=final.get("prompt_eval_count"),
                completion_tokens=final.get("eval_count"),
                time_to_first_token_s=first,
                total_s=time.perf_counter() - started,
            ),
        )

    async def tokenize(self, text: str) -> list[int]:
        raise BackendRejected(
            "Ollama has no tokenize endpoint",
            hint="token counts are estimated; set completion.fim_format",
        )

    async def count_tokens(self, text: str) -> int:
        """An estimate (about 3.5 characters per token): Ollama cannot count tokens."""
        return max(1, int(len(text) / 3.5)) if text else 0

    async def fim_format_hint(self) -> str | None:
        model = await self.served_model()
        guess = served_fim.guess_format_from_name(model)
        if guess is None:
            log.warning(
                "cannot tell the FIM format of Ollama model %r from its name; completing "
                "from the prefix only (set completion.fim_format)",
                model,
            )
            return fim.PREFIX_ONLY
        log.info("FIM format of Ollama model %r guessed from its name: %s", model, guess)
        return guess

    async def health(self) -> BackendHealth:
        started = time.perf_counter()
        details: list[str] = []
        for endpoint in self.http.pool.endpoints:
            try:
                status, text = await self.http.get_text(endpoint, "/api/version")
            except CodeslmError as exc:
                details.append(f"{endpoint.url}: {exc}")
                continue
            if status == 200:
                try:
                    model = await self.served_model()
                except CodeslmError as exc:
                    return BackendHealth(
                        HealthStatus.ERROR, str(exc), None, time.perf_counter() - started
                    )
                return BackendHealth(
                    HealthStatus.READY,
                    f"{endpoint.url}: ollama {text.strip()}",
                    model,
                    time.perf_counter() - started,
                )
            details.append(f"{endpoint.url}: HTTP {status}")
        return BackendHealth(
            HealthStatus.DOWN, "; ".join(details), None, time.perf_counter() - started
        )

    async def model_info(self) -> ModelInfo:
        model = await self.served_model()
        if self._context is None:
            _, data = await self.http.request_json("POST", "/api/show", {"model": model})
            info = data.get("model_info") if isinstance(data, dict) else None
            trained = None
            if isinstance(info, dict):
                trained = next(
                    (
                        int(v)
                        for k, v in info.items()
                        if k.endswith(".context_length") and isinstance(v, int)
                    ),
                    None,
                )
            self._context = min(self._config.n_ctx, trained) if trained else self._config.n_ctx
        return ModelInfo(
            name=model,
            context_length=self._context,
            metadata={"server": ", ".join(self.http.urls), "server_kind": "ollama"},
        )

    async def diagnostics(self) -> dict[str, str]:
        try:
            model = await self.served_model()
        except CodeslmError as exc:
            return {"server": str(exc)}
        out = {"server": f"{', '.join(self.http.urls)} (ollama); model {model}"}
        name = await self.fim_format_hint() or fim.PREFIX_ONLY
        fmt = fim.get_format(
            self._config.completion.fim_format
            if self._config.completion.fim_format not in {"", "auto"}
            else name
        )
        test = await served_fim.self_test(self, fmt)
        out["FIM format"] = f"{fmt.name}, guessed from the model name (Ollama has no tokenizer)"
        out["FIM self-test"] = ("ok: " if test.ok else "PROBLEM: ") + test.detail
        return out

    async def aclose(self) -> None:
        await self.http.aclose()
