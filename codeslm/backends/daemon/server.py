"""The model daemon: one loaded model shared by every codeslm process of a user.

It hosts the embedded llama.cpp backend (:class:`~codeslm.backends.llamacpp.LlamaCppBackend`,
with KV insertion) behind the JSON-lines protocol of :mod:`.protocol` on a Unix socket in the
user's private runtime directory. Contract:

- only the user reaches it: the directory is 0700, and on Linux the peer's uid is checked too;
- requests run one at a time (one model, two cores); a *warm* request (prefill ahead of the
  user) is cancelled as soon as any real request arrives, and closing a connection cancels
  its request within one prompt batch;
- a malformed or oversized line gets one error line and the connection is closed; the daemon
  never dies of a client;
- it exits after ``idle_s`` seconds with no request (0 = never), on SIGTERM/SIGINT or the
  ``stop`` operation, removing its socket and state files.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
import time
from pathlib import Path
from typing import Any

from ...config import Config
from ...config.machine_fit import SMALL_FILE_BYTES
from ...errors import CodeslmError, InputError
from ...types import Usage
from ..llamacpp import LlamaCppBackend
from . import protocol
from .runtime import DaemonSpec

log = logging.getLogger(__name__)


def maps_model_file(path: Path) -> bool:
    """Whether the daemon maps the model file rather than reading it: only a file no larger
    than the 0.5B's. llama.cpp repacks most of a larger model's weights into memory of its own,
    and a mapping keeps the original pages resident too: +600 MiB for the 1.5B, over its
    1.5 GiB target. For the 0.5B a mapping costs ~27 MiB and loads 0.25 s sooner (0.39-0.43
    against 0.64-0.66 s), which every cold start waits for (benchmarks/RESULTS.md, issue 15
    stop 22)."""
    try:
        return path.stat().st_size <= SMALL_FILE_BYTES
    except OSError:  # the load reports a missing file itself
        return False


class Daemon:
    """The daemon's state: the backend, the warm requests in flight, idle accounting."""

    def __init__(self, spec: DaemonSpec, socket_path: Path, state_path: Path) -> None:
        self.spec = spec
        self.socket_path = socket_path
        self.state_path = state_path
        config = Config(
            n_ctx=spec.n_ctx,
            threads=spec.threads,
            n_batch=spec.n_batch,
            adaptive_threads=spec.adaptive_threads,
            use_mmap=maps_model_file(Path(spec.model_path)),
            kv_head_files=spec.kv_heads,
        )
        config.completion.kv_reuse = spec.kv_reuse
        config.completion.kv_refresh_tokens = spec.kv_refresh
        config.completion.kv_stash_slots = spec.kv_stash
        config.completion.adapter = spec.adapter or "none"  # resolved by the client
        self.backend = LlamaCppBackend(
            config, model_path=Path(spec.model_path), model_name=spec.model_name
        )
        self.started = time.time()
        self.last_activity = time.monotonic()
        self.active = 0
        self.served = 0
        self.warm_served = 0
        self.warm_cancelled = 0
        self.prompt_tokens = 0
        self.reused_tokens = 0
        self._warm: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()

    # -- life cycle ------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        # Load the model before listening: a client that finds the socket answering finds the
        # model loaded, and a broken model fails the start with its own error (see serve()).
        await self.backend.health()
        if self.backend.load_error is not None:
            raise self.backend.load_error
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()  # stale: the start lock says nobody else serves it
        server = await asyncio.start_unix_server(
            self._serve_connection, str(self.socket_path), limit=protocol.MAX_LINE_BYTES
        )
        os.chmod(self.socket_path, 0o600)
        self.state_path.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "model": self.spec.model_name,
                    "path": self.spec.model_path,
                    "started": self.started,
                }
            )
        )
        log.info("daemon %d serving %s on %s", os.getpid(), self.spec.model_name, self.socket_path)
        watchdog = asyncio.create_task(self._idle_watchdog())
        try:
            await self._stopping.wait()
        finally:
            watchdog.cancel()
            server.close()
            for task in list(self._warm):
                task.cancel()
            self._cleanup()
            await self.backend.aclose()
            log.info("daemon %d stopped", os.getpid())

    def _cleanup(self) -> None:
        for path in (self.socket_path, self.state_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def _idle_watchdog(self) -> None:
        if self.spec.idle_s <= 0:
            return
        while True:
            await asyncio.sleep(min(5.0, self.spec.idle_s))
            idle = time.monotonic() - self.last_activity
            if self.active == 0 and idle >= self.spec.idle_s:
                log.info("idle for %.0f s: exiting", idle)
                self._stopping.set()
                return

    # -- connections -----------------------------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.active += 1
        self.last_activity = time.monotonic()
        try:
            if not _same_user(writer):
                await _send(
                    writer,
                    protocol.error_to_wire(InputError("the daemon serves only its own user")),
                )
                return
            try:
                line = await reader.readline()
                message = json.loads(line) if line.strip() else None
            except (ValueError, asyncio.LimitOverrunError, RecursionError) as exc:
                await _send(
                    writer,
                    protocol.error_to_wire(
                        InputError(f"malformed request line ({type(exc).__name__})")
                    ),
                )
                return
            if not isinstance(message, dict) or message.get("op") not in protocol.OPERATIONS:
                await _send(
                    writer,
                    protocol.error_to_wire(
                        InputError(
                            f"unknown operation (expected one of {', '.join(protocol.OPERATIONS)})"
                        )
                    ),
                )
                return
            await self._dispatch(message, reader, writer)
        except (ConnectionError, BrokenPipeError):
            pass  # the client went away; its request was cancelled with it
        except Exception as exc:  # never let one client take the daemon down
            log.exception("request failed")
            with contextlib.suppress(Exception):
                await _send(writer, protocol.error_to_wire(exc))
        finally:
            self.active -= 1
            self.last_activity = time.monotonic()
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(
        self, message: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        op = message["op"]
        try:
            if op == "ping":
                await _send(
                    writer,
                    {
                        "ok": True,
                        "pid": os.getpid(),
                        "model": self.spec.model_name,
                        "key": self.spec.key,
                    },
                )
            elif op == "generate":
                await self._generate(message, reader, writer)
            elif op == "tokenize":
                text = message.get("text")
                if not isinstance(text, str):
                    raise InputError("tokenize needs a text string")
                await _send(writer, {"tokens": await self.backend.tokenize(text)})
            elif op == "info":
                info = await self.backend.model_info()
                await _send(writer, {"info": protocol.info_to_wire(info)})
            elif op == "diagnostics":
                await _send(writer, {"diagnostics": await self.backend.diagnostics()})
            elif op == "status":
                await _send(writer, {"status": self.status()})
            elif op == "stop":
                await _send(writer, {"ok": True})
                self._stopping.set()
        except CodeslmError as exc:
            await _send(writer, protocol.error_to_wire(exc))

    async def _generate(
        self, message: dict[str, Any], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        request = protocol.request_from_wire(message.get("request"))
        if not request.warm:
            for task in list(self._warm):  # a real request outranks every warm-up
                task.cancel()
        producer = asyncio.create_task(self._stream(request, writer))
        if request.warm:
            self._warm.add(producer)
            producer.add_done_callback(self._warm.discard)
        # The client closing its end (EOF) cancels the generation.
        hangup = asyncio.create_task(reader.read(1))
        done, _ = await asyncio.wait({producer, hangup}, return_when=asyncio.FIRST_COMPLETED)
        if producer not in done:
            producer.cancel()
        hangup.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        if request.warm and producer.cancelled():
            self.warm_cancelled += 1
            with contextlib.suppress(Exception):
                await _send(writer, {"chunk": {"text": "", "finish_reason": "cancelled"}})

    async def _stream(self, request: Any, writer: asyncio.StreamWriter) -> None:
        if request.warm:
            self.warm_served += 1
        else:
            self.served += 1
        trace = _Trace(request.warm)
        try:
            async for chunk in self.backend.stream(request):
                if trace.see(chunk) and chunk.usage is not None:
                    # The backend reports the prompt's accounting first; a client that stops
                    # early never reads the last chunk, so count it here.
                    self.prompt_tokens += chunk.usage.prompt_tokens or 0
                    self.reused_tokens += chunk.usage.cached_prompt_tokens or 0
                await _send(writer, {"chunk": protocol.chunk_to_wire(chunk)})
        finally:
            trace.log()

    def status(self) -> dict[str, Any]:
        """What ``codeslm serve status`` and ``doctor`` show."""
        return {
            "pid": os.getpid(),
            "model": self.spec.model_name,
            "path": self.spec.model_path,
            "uptime_s": round(time.time() - self.started, 1),
            "rss_mib": _memory_mib("VmRSS"),
            "peak_rss_mib": _memory_mib("VmHWM"),
            "requests": self.served,
            "warm_requests": self.warm_served,
            "warm_cancelled": self.warm_cancelled,
            "prompt_tokens": self.prompt_tokens,
            "reused_prompt_tokens": self.reused_tokens,
            "kv_insertions": self.backend.insertions,
            "kv_heads_loaded": self.backend.heads_loaded,
            "kv_reuse": self.spec.kv_reuse,
            "idle_exit_s": self.spec.idle_s,
        }


class _Trace:
    """What one generation did, logged at debug level (``CODESLM_LOG=debug``) when it ends,
    finished or cancelled: where a slow answer's time went."""

    def __init__(self, warm: bool) -> None:
        self.kind = "warm-up" if warm else "generation"
        self.started = time.perf_counter()
        self.first_text_s: float | None = None
        self.characters = 0
        self.prompt: Usage | None = None
        self.finish = "cancelled"

    def see(self, chunk: Any) -> bool:
        """Note ``chunk``; True when it is the first to carry the prompt's accounting."""
        if chunk.text and self.first_text_s is None:
            self.first_text_s = time.perf_counter() - self.started
        self.characters += len(chunk.text or "")
        if chunk.finish_reason is not None:
            self.finish = chunk.finish_reason
        if self.prompt is None and chunk.usage is not None and chunk.usage.prompt_tokens:
            self.prompt = chunk.usage
            return True
        return False

    def log(self) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        prompt = self.prompt or Usage()
        log.debug(
            "%s %s after %.3f s: %s prompt tokens, %s evaluated, %d characters, first at %s",
            self.kind,
            self.finish,
            time.perf_counter() - self.started,
            prompt.prompt_tokens,
            (prompt.prompt_tokens or 0) - (prompt.cached_prompt_tokens or 0),
            self.characters,
            "-" if self.first_text_s is None else f"{self.first_text_s:.3f} s",
        )


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(protocol.encode(message))
    await writer.drain()


def _same_user(writer: asyncio.StreamWriter) -> bool:
    """On Linux, whether the peer runs as this user (the 0700 directory already guards it)."""
    sock = writer.get_extra_info("socket")
    option = getattr(socket, "SO_PEERCRED", None)
    if sock is None or option is None:
        return True
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, option, struct.calcsize("3i"))
    except OSError:
        return True
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (os.getuid(), 0)


def _memory_mib(field: str) -> float | None:
    """A memory figure of this process in MiB from Linux's ``/proc/self/status`` (``VmRSS``
    now, ``VmHWM`` at peak); None elsewhere."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def serve(spec: DaemonSpec, socket_path: Path, state_path: Path) -> int:
    """Run a daemon until it stops; the process's exit code. An error at start (a broken
    model) is also written to the state file, for the starting client to raise as is."""
    try:
        asyncio.run(Daemon(spec, socket_path, state_path).run())
    except CodeslmError as exc:
        log.error("%s", exc)
        with contextlib.suppress(OSError):
            state_path.write_text(json.dumps(protocol.error_to_wire(exc)))
        return exc.exit_code
    return 0
