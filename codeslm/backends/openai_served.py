"""What an OpenAI-compatible server serves: the model to ask for, the server kind, the context
length (from ``GET /v1/models``, and llama-server's ``/props``), and the server's tokenizer.

The kind decides dialects: vLLM says ``owned_by: vllm`` and gives ``max_model_len``;
llama-server says ``llamacpp``; llama-cpp-python says ``me``. Each has its own tokenize
endpoint; an unknown server is probed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache

from ..config import Config
from ..errors import (
    BackendError,
    BackendProtocolError,
    BackendRejected,
    BackendUnavailable,
    CodeslmError,
)
from .endpoints import Endpoint
from .httpclient import HttpClient

log = logging.getLogger(__name__)

VLLM = "vllm"
LLAMA_SERVER = "llama-server"
LLAMA_CPP_PYTHON = "llama-cpp-python"
UNKNOWN = "unknown"

_OWNED_BY_KIND = {"vllm": VLLM, "llamacpp": LLAMA_SERVER, "me": LLAMA_CPP_PYTHON}
_TOKENIZE_CACHE = 2048  # texts; sentinels and repeated context blocks hit it

VLLM_MAX_STOP = 4


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


async def discover(http: HttpClient, wanted: str, server_kind: str | None) -> ServedModel:
    """Ask ``/v1/models`` (whichever endpoint answers first) which model and server this is;
    ``server_kind`` pins the kind instead of reading ``owned_by``."""
    endpoint, data = await http.request_json("GET", "/v1/models")
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise BackendProtocolError(f"{endpoint.url}/v1/models did not list models")
    ids = [str(m.get("id")) for m in items if isinstance(m, dict) and m.get("id")]
    chosen = pick_model(wanted, ids, endpoint.url)
    card = next(m for m in items if isinstance(m, dict) and m.get("id") == chosen)
    kind = server_kind or _OWNED_BY_KIND.get(str(card.get("owned_by")), UNKNOWN)
    length = card.get("max_model_len")
    context = int(length) if isinstance(length, int) and length > 0 else None
    if context is None and kind == LLAMA_SERVER:
        context = await _llama_server_ctx(http, endpoint)
    log.info("%s serves %s (%s, context %s)", endpoint.url, chosen, kind, context)
    return ServedModel(chosen, kind, context, tuple(ids))


async def _llama_server_ctx(http: HttpClient, endpoint: Endpoint) -> int | None:
    try:
        _, props = await http.request_json("GET", "/props", endpoints=[endpoint])
    except CodeslmError:
        return None
    settings = props.get("default_generation_settings", {}) if isinstance(props, dict) else {}
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    return int(n_ctx) if isinstance(n_ctx, int) and n_ctx > 0 else None


BodyMaker = Callable[[str], dict[str, Any]]


def _tokenize_dialects(served: ServedModel) -> list[tuple[str, BodyMaker]]:
    """The tokenize endpoints to try for the server kind, in order."""

    def vllm_style(t: str) -> dict[str, Any]:
        return {"model": served.id, "prompt": t, "add_special_tokens": False}

    def llama_style(t: str) -> dict[str, Any]:
        return {"content": t, "add_special": False, "parse_special": True}

    def extras_style(t: str) -> dict[str, Any]:
        return {"input": t, "model": served.id}

    if served.kind == VLLM:
        return [("/tokenize", vllm_style)]
    if served.kind == LLAMA_SERVER:
        return [("/tokenize", llama_style)]
    if served.kind == LLAMA_CPP_PYTHON:
        return [("/extras/tokenize", extras_style)]
    # Both /tokenize dialects accept the other's keys: try them in one request.
    return [
        ("/tokenize", lambda t: {**vllm_style(t), **llama_style(t)}),
        ("/extras/tokenize", extras_style),
    ]


class ServerTokenizer:
    """The server's tokenize endpoint, found once (:meth:`probe`), with a cache of results.

    Not safe to probe concurrently: the backend probes under its lock.
    """

    def __init__(self, http: HttpClient) -> None:
        self.http = http
        self.probed = False
        self.error = ""
        self._call: Callable[[str], Awaitable[list[int]]] | None = None
        self._prefix: list[int] = []
        self._cache: LRUCache[str, tuple[int, ...]] = LRUCache(maxsize=_TOKENIZE_CACHE)

    @property
    def available(self) -> bool:
        return self._call is not None

    async def probe(self, served: ServedModel) -> None:
        """Pick the tokenize endpoint for the server kind (probing when unknown)."""
        errors: list[str] = []
        for path, make_body in _tokenize_dialects(served):

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
            self._call = call
            self._prefix = prefix
            self.probed = True
            return
        self.error = "; ".join(errors) or "no tokenize endpoint"
        self.probed = True
        log.info("no tokenizer endpoint on %s: %s", self.http.urls[0], self.error)

    def cached(self, text: str) -> tuple[int, ...] | None:
        return self._cache.get(text)

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` without the server's added prefix; needs :attr:`available`."""
        cached = self._cache.get(text)
        if cached is not None:
            return list(cached)
        assert self._call is not None
        ids = await self._call(text)
        prefix = self._prefix
        if prefix and ids[: len(prefix)] == prefix:
            ids = ids[len(prefix) :]
        self._cache[text] = tuple(ids)
        return ids
