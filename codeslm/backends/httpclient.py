"""HTTP plumbing shared by the server backends: failover, error mapping, stream parsing.

Retries are limited to what is safe: a request is sent to the next endpoint only when the
previous one provably did no work for it (the connection was refused or timed out while
connecting, or the server answered 429/502/503/504 before streaming anything). Once a byte of a
stream has arrived nothing is retried: the caller may already have shown the text.

Every httpx failure leaves this module as a :class:`~codeslm.errors.BackendError`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from ..errors import (
    BackendError,
    BackendProtocolError,
    BackendRejected,
    BackendUnavailable,
    ContextTooLong,
)
from .endpoints import Endpoint, EndpointPool, session_header

log = logging.getLogger(__name__)

# A kept-alive connection that died under the request, before any answer (a restarted or
# crashed server).
_DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)

# Answers that mean "this server did nothing with the request; another one may".
RETRY_STATUSES = frozenset({429, 502, 503, 504})

_CONTEXT_WORDS = re.compile(
    r"context length|context window|context_length_exceeded|maximum model length|"
    r"longer than the maximum|exceeds? the (?:available )?context|too many tokens|"
    r"prompt is too long|input is too long",
    re.IGNORECASE,
)


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def error_message(body: str) -> str:
    """The human message inside an error body (OpenAI, vLLM old/new, llama.cpp, Ollama, FastAPI)."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return _one_line(body) or "no details"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            for key in ("message", "detail", "error"):
                if isinstance(err.get(key), str):
                    return _one_line(err[key])
            if isinstance(err.get("detail"), list):  # FastAPI validation errors
                return _one_line("; ".join(str(d.get("msg", d)) for d in err["detail"]))
        if isinstance(err, str):
            return _one_line(err)
    return _one_line(body)


def error_from_status(status: int, body: str, url: str) -> BackendError:
    """Map an HTTP error answer to the codeslm error tree."""
    message = error_message(body)
    where = f"{url} answered HTTP {status}"
    if status in (400, 413, 422) and _CONTEXT_WORDS.search(message):
        return ContextTooLong(
            f"the prompt does not fit the served model's context window ({message})",
            hint="shorten the input, lower max tokens, or serve the model with a longer context",
        )
    if status in (401, 403):
        return BackendRejected(
            f"{where}: the API key was refused ({message})",
            hint="set api_key in the config or CODESLM_API_KEY",
        )
    if status == 404:
        return BackendRejected(
            f"{where}: {message}",
            hint="check --url, --model and that --backend names this kind of server",
        )
    if status in RETRY_STATUSES:
        return BackendUnavailable(
            f"{where}: {message}", hint="the server is loading, overloaded or unhealthy"
        )
    if 400 <= status < 500:
        return BackendRejected(f"{where}: {message}")
    return BackendError(f"{where}: {message}")


def _connect_reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, _DROPPED):
        return f"connection dropped: {text}"
    if "refused" in text.lower():
        return "connection refused"
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out while connecting"
    return _one_line(text, 120)


class HttpClient:
    """An httpx client over an :class:`EndpointPool`, with codeslm's error semantics."""

    def __init__(
        self,
        urls: list[str],
        *,
        api_key: str = "",
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
        cooldown_s: float = 15.0,
    ) -> None:
        self.pool = EndpointPool(urls, cooldown_s=cooldown_s)
        self.timeout_s = timeout_s
        headers = {"User-Agent": "codeslm"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # The read timeout bounds the silence between two chunks, not the whole generation.
        timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=timeout,
            transport=transport,
            trust_env=False,
            limits=httpx.Limits(max_keepalive_connections=8, keepalive_expiry=30.0),
        )

    @property
    def urls(self) -> list[str]:
        return [e.url for e in self.pool.endpoints]

    async def aclose(self) -> None:
        await self._client.aclose()

    def _headers(self, session_key: str | None) -> dict[str, str]:
        return {"X-Session-ID": session_header(session_key)} if session_key else {}

    @asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        session_key: str | None = None,
        endpoints: list[Endpoint] | None = None,
    ) -> AsyncIterator[tuple[Endpoint, httpx.Response]]:
        """Open a streamed request on the first endpoint that takes it (see module docstring).

        Yields the endpoint and a response with a 2xx status. Closing the context closes the
        connection, which is how a server learns that the generation is no longer wanted.
        """
        candidates = endpoints if endpoints is not None else self.pool.ranked(session_key)
        last: BackendError | None = None
        for endpoint in candidates:
            opened = await self._open(method, endpoint, path, body, session_key)
            if isinstance(opened, BackendError):
                last = opened
                continue
            self.pool.mark_up(endpoint)
            try:
                yield endpoint, opened
            finally:
                await opened.aclose()
            return
        assert last is not None
        if len(candidates) > 1:
            raise type(last)(
                f"no server answered ({len(candidates)} tried); last: {last.message}",
                hint=last.hint,
            )
        raise last

    async def _open(
        self,
        method: str,
        endpoint: Endpoint,
        path: str,
        body: dict[str, Any] | None,
        session_key: str | None,
    ) -> httpx.Response | BackendError:
        """A streamed 2xx response from ``endpoint``, or the error that lets the next endpoint
        try (it provably did no work: refused connection, retryable status); others raise."""
        try:
            response = await self._send(method, endpoint, path, body, session_key)
        except (httpx.ConnectError, httpx.ConnectTimeout, *_DROPPED) as exc:
            reason = _connect_reason(exc)
            self.pool.mark_down(endpoint, reason)
            return BackendUnavailable(
                f"cannot connect to {endpoint.url} ({reason})",
                hint="start the server (codeslm serve) or check --url",
            )
        except httpx.TimeoutException:
            raise BackendUnavailable(
                f"{endpoint.url} did not answer within {self.timeout_s:g} s",
                hint="raise request_timeout_s or check the server's load",
            ) from None
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"{endpoint.url}: {_one_line(str(exc)) or exc!r}") from None
        if response.status_code < 400:
            return response
        try:
            text = (await response.aread()).decode("utf-8", "replace")
        except httpx.HTTPError:
            text = ""
        finally:
            await response.aclose()
        error = error_from_status(response.status_code, text, endpoint.url)
        if response.status_code in RETRY_STATUSES:
            self.pool.mark_down(endpoint, f"HTTP {response.status_code}")
            return error
        raise error

    async def _send(
        self,
        method: str,
        endpoint: Endpoint,
        path: str,
        body: dict[str, Any] | None,
        session_key: str | None,
    ) -> httpx.Response:
        """Send once; a kept-alive connection the server dropped gets one fresh retry.

        The retry is safe: the answer's headers had not arrived, nothing was shown, and a
        generation has no side effects beyond its compute.
        """
        for attempt in (1, 2):
            request = self._client.build_request(
                method, endpoint.url + path, json=body, headers=self._headers(session_key)
            )
            try:
                return await self._client.send(request, stream=True)
            except _DROPPED:
                if attempt == 2:
                    raise
                log.info("connection to %s was dropped; retrying on a new one", endpoint.url)
        raise AssertionError("unreachable")

    async def request_json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        session_key: str | None = None,
        endpoints: list[Endpoint] | None = None,
    ) -> tuple[Endpoint, Any]:
        """A small non-streamed request; returns the endpoint that answered and parsed JSON."""
        async with self.stream(
            method, path, body, session_key=session_key, endpoints=endpoints
        ) as (endpoint, response):
            try:
                raw = await response.aread()
            except httpx.HTTPError as exc:
                raise BackendUnavailable(f"{endpoint.url}{path}: {_one_line(str(exc))}") from None
        try:
            return endpoint, json.loads(raw)
        except ValueError:
            shown = _one_line(raw.decode("utf-8", "replace"), 120)
            raise BackendProtocolError(
                f"{endpoint.url}{path} did not answer JSON: {shown}"
            ) from None

    async def get_text(self, endpoint: Endpoint, path: str) -> tuple[int, str]:
        """GET one endpoint (no failover): status and body; connection errors raise."""
        try:
            response = await self._client.get(endpoint.url + path)
        except httpx.HTTPError as exc:
            raise BackendUnavailable(f"{endpoint.url}{path}: {_connect_reason(exc)}") from None
        return response.status_code, response.text


@contextmanager
def _stream_errors(url: str) -> Iterator[None]:
    """Transport failures while reading a streamed body become BackendUnavailable."""
    try:
        yield
    except httpx.ReadTimeout:
        raise BackendUnavailable(
            f"{url} stopped sending (read timeout)", hint="the server may be overloaded or hung"
        ) from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.NetworkError) as exc:
        reason = _one_line(str(exc), 120) or type(exc).__name__
        raise BackendUnavailable(
            f"{url} closed the connection mid-stream ({reason})",
            hint="the server may have crashed; check its log",
        ) from None


async def lines_of(response: httpx.Response, url: str) -> AsyncIterator[str]:
    """The lines of a streamed body; transport failures become BackendUnavailable."""
    with _stream_errors(url):
        async for line in response.aiter_lines():
            yield line


async def sse_data(response: httpx.Response, url: str) -> AsyncIterator[str]:
    """The ``data`` payloads of a server-sent-event stream, parsed by ``httpx-sse``.

    Events without data (keep-alive pings after an ``id:``, bare ``event:`` lines) and comments
    are skipped. A body that is not an event stream is a protocol error naming its type;
    transport failures become BackendUnavailable.
    """
    source = EventSource(response)
    with _stream_errors(url):
        try:
            async for event in source.aiter_sse():
                if event.data:
                    yield event.data
        except SSEError:
            kind = response.headers.get("content-type", "no content type")
            raise BackendProtocolError(
                f"{url} answered {kind!r} where an event stream was expected",
                hint="check that --backend names this kind of server",
            ) from None


def parse_event(payload: str, url: str) -> dict[str, Any]:
    """One JSON event of a stream; a malformed one is a protocol error."""
    try:
        event = json.loads(payload)
    except ValueError:
        raise BackendProtocolError(
            f"{url} sent a malformed stream event: {_one_line(payload, 120)}"
        ) from None
    if not isinstance(event, dict):
        raise BackendProtocolError(f"{url} sent a stream event that is not an object")
    return event


def stream_error(event: dict[str, Any], url: str) -> BackendError | None:
    """The error carried by an in-stream event (``{"error": ...}``), if any."""
    err = event.get("error")
    if err is None:
        return None
    code = err.get("code") if isinstance(err, dict) else None
    status = code if isinstance(code, int) and 400 <= code < 600 else 500
    return error_from_status(status, json.dumps(event), url)
