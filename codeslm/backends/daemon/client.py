"""The backend that reaches the user's model daemon (started on first use).

To the engine it is the embedded llama.cpp backend, loaded once per user instead of once per
process: a ``codeslm complete`` or a git hook finds the model warm. Contract, beyond
:class:`~codeslm.backends.base.Backend`'s:

- the first call starts the daemon when none answers (exactly one, even when several
  processes race) and waits until its model is loaded;
- a daemon that dies mid-request ends that request with :class:`BackendUnavailable` at once;
  the next request starts a new one;
- closing the stream closes the connection, which cancels the request in the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from ...config import Config
from ...errors import BackendError, BackendUnavailable, CodeslmError
from ...types import BackendHealth, Chunk, GenerationRequest, HealthStatus, ModelInfo
from ..base import Backend
from . import protocol, runtime

log = logging.getLogger(__name__)


class DaemonBackend(Backend):
    """llama.cpp in the shared per-user daemon; see the module docstring."""

    name = "llama-cpp"
    times_loaded_local_model = True  # the daemon loads the model before it serves a request

    def __init__(self, config: Config, *, model_path: Path | None = None) -> None:
        self._config = config
        self._model_path = model_path
        self.keeps_prompts = config.completion.kv_stash_slots > 0  # the daemon's stash
        self._spec: runtime.DaemonSpec | None = None
        self._files: runtime.DaemonFiles | None = None
        self._start_lock = asyncio.Lock()
        self._counts: LRUCache[str, int] = LRUCache(maxsize=4096)

    # -- finding the daemon ----------------------------------------------------------------

    def spec(self) -> runtime.DaemonSpec:
        """What this backend's daemon serves (resolves the model on first use)."""
        if self._spec is None:
            if self._model_path is not None:
                path, name = self._model_path, self._model_path.stem
            else:
                from ...runtime.models.resolve import resolve

                resolved = resolve(self._config.model)
                path, name = resolved.path, resolved.name
            self._spec = runtime.DaemonSpec.from_config(self._config, path, name)
        return self._spec

    def files(self) -> runtime.DaemonFiles:
        return runtime.DaemonFiles.for_key(self.spec().key)

    async def _ensure(self) -> runtime.DaemonFiles:
        async with self._start_lock:
            spec = self.spec()
            files = runtime.DaemonFiles.for_key(spec.key)
            if self._files is None or not files.socket.exists():
                if await asyncio.to_thread(runtime.ping, files) is None:
                    _check_runtime()
                    files = await asyncio.to_thread(
                        runtime.ensure_running, spec, timeout_s=self._config.daemon.start_timeout_s
                    )
                self._files = files
            return files

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection to a running daemon, starting it if needed (once more if the
        socket we knew turns out dead)."""
        for attempt in range(2):
            files = await self._ensure()
            try:
                return await asyncio.open_unix_connection(
                    str(files.socket), limit=protocol.MAX_LINE_BYTES
                )
            except OSError:
                self._files = None
                if attempt:
                    raise BackendUnavailable(
                        f"cannot reach the model daemon at {files.socket}",
                        hint=f"see {files.log}; `codeslm serve stop` and retry",
                    ) from None
        raise AssertionError("unreachable")

    async def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        reader, writer = await self._open()
        try:
            writer.write(protocol.encode(message))
            await writer.drain()
            line = await reader.readline()
        except (OSError, asyncio.LimitOverrunError, ValueError) as exc:
            raise BackendUnavailable(f"the model daemon went away ({exc})") from None
        finally:
            writer.close()
        if not line:
            self._files = None
            raise BackendUnavailable(
                "the model daemon closed the connection", hint="the next request starts it again"
            )
        reply = protocol.decode(line)
        if "error" in reply:
            raise protocol.error_from_wire(reply["error"])
        return reply

    # -- the backend interface -------------------------------------------------------------

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        reader, writer = await self._open()
        finished = False
        try:
            writer.write(
                protocol.encode({"op": "generate", "request": protocol.request_to_wire(request)})
            )
            await writer.drain()
            while not finished:
                try:
                    line = await reader.readline()
                except (OSError, asyncio.LimitOverrunError, ValueError) as exc:
                    raise BackendUnavailable(f"the model daemon went away ({exc})") from None
                if not line:
                    self._files = None
                    raise BackendUnavailable(
                        "the model daemon stopped in the middle of a request",
                        hint="the next request starts it again",
                    )
                reply = protocol.decode(line)
                if "error" in reply:
                    raise protocol.error_from_wire(reply["error"])
                chunk = protocol.chunk_from_wire(reply.get("chunk"))
                finished = chunk.finish_reason is not None
                yield chunk
        finally:
            # Closing cancels the request in the daemon when it is still running.
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def health(self) -> BackendHealth:
        try:
            reply = await self._call({"op": "ping"})
        except CodeslmError as exc:
            return BackendHealth(
                HealthStatus.ERROR if not isinstance(exc, BackendError) else HealthStatus.DOWN,
                str(exc),
                None,
            )
        return BackendHealth(
            HealthStatus.READY, f"daemon pid {reply.get('pid')}", str(reply.get("model"))
        )

    async def tokenize(self, text: str) -> list[int]:
        reply = await self._call({"op": "tokenize", "text": text})
        tokens = reply.get("tokens")
        if not isinstance(tokens, list):
            raise BackendError("the model daemon sent no tokens")
        return [int(t) for t in tokens]

    def count_tokens_sync(self, text: str) -> int | None:
        """Exact count through the daemon (a local socket round trip, remembered: the context
        builder counts the same snippets at every keystroke); None if the daemon is not
        reachable yet, so the caller estimates instead of blocking on a daemon start."""
        if self._files is None:
            return None
        known = self._counts.get(text)
        if known is not None:
            return known
        try:
            reply = runtime.call(self._files.socket, {"op": "tokenize", "text": text})
        except (OSError, CodeslmError):
            return None
        tokens = reply.get("tokens")
        if not isinstance(tokens, list):
            return None
        self._counts[text] = len(tokens)
        return len(tokens)

    async def model_info(self) -> ModelInfo:
        reply = await self._call({"op": "info"})
        return protocol.info_from_wire(reply.get("info"))

    async def diagnostics(self) -> dict[str, str]:
        reply = await self._call({"op": "diagnostics"})
        lines = {str(k): str(v) for k, v in (reply.get("diagnostics") or {}).items()}
        status = await self.status()
        lines["daemon"] = describe(status, self.files())
        return lines

    async def status(self) -> dict[str, Any]:
        """The daemon's own status (pid, model, memory, cache reuse)."""
        reply = await self._call({"op": "status"})
        status = reply.get("status")
        return status if isinstance(status, dict) else {}

    async def aclose(self) -> None:
        """Nothing to release here: the daemon outlives this process on purpose."""


def start_in_background(config: Config) -> bool:
    """Begin starting the daemon for ``config``'s model in a background thread, when none
    answers, and return at once: True when a start was begun.

    For a caller that knows it will need the model while it still has other work to do (the
    commit hook reads the staged change meanwhile): the model loads in parallel. Never raises;
    the request that follows starts or waits for the same daemon (:func:`runtime.ensure_running`
    lets exactly one process start it) and reports any failure itself.
    """
    try:
        spec = DaemonBackend(config).spec()
        if runtime.ping(runtime.DaemonFiles.for_key(spec.key)) is not None:
            return False
        _check_runtime()
    except CodeslmError as exc:
        log.info("the daemon was not started early: %s", exc)
        return False

    def start() -> None:
        try:
            runtime.ensure_running(spec, timeout_s=config.daemon.start_timeout_s)
        except CodeslmError as exc:  # the request that follows meets it again and reports it
            log.info("the early daemon start failed: %s", exc)

    threading.Thread(target=start, name="codeslm-daemon-start", daemon=True).start()
    return True


def _check_runtime() -> None:
    """Refuse at once, with the fix, when the daemon could not load llama.cpp either (it runs
    under this interpreter), instead of starting a process that dies."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        from ..llamacpp import _import_llama

        _import_llama()  # raises BackendUnavailable naming the fix


def describe(status: dict[str, Any], files: runtime.DaemonFiles) -> str:
    """One line about a daemon for ``doctor`` and ``serve status``."""
    prompt = status.get("prompt_tokens") or 0
    reused = status.get("reused_prompt_tokens") or 0
    share = f"{reused / prompt:.0%}" if prompt else "n/a"
    return (
        f"pid {status.get('pid')}, {status.get('model')}, "
        f"RSS {status.get('rss_mib')} MiB (peak {status.get('peak_rss_mib')}), "
        f"{status.get('requests')} requests + {status.get('warm_requests')} warm-ups, "
        f"prompt tokens reused {share} ({status.get('kv_insertions')} by KV insertion, "
        f"{status.get('kv_heads_loaded', 0)} prompt heads from disk), "
        f"up {status.get('uptime_s')} s, socket {files.socket}"
    )
