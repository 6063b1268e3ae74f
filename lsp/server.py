"""The codeslm language server: its state and its transports.

The handlers live in :mod:`.lifecycle` (initialize, settings, workspace folders, document sync),
:mod:`.completions` (inline completion and the completion fallback), :mod:`.actions` (code
actions and refactor commands) and :mod:`.warmup`; :mod:`.handlers` registers them and builds
the server, so this module imports none of them. They convert protocol values to core values
and call the core; the model logic is in ``codeslm``. stdout carries nothing but the protocol.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections.abc import Coroutine, Mapping
from pathlib import Path
from typing import Any

from lsprotocol import types as lsp
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from codeslm import __version__
from codeslm.backends import create_backend
from codeslm.documents import read_document
from codeslm.errors import InputError

from .context import ProviderFactory, default_factory
from .documents import DocumentStore
from .framing import CHUNK, MessageReader, ThreadedStreamSource
from .protocol import CodeslmProtocol
from .services import BackendFactory, Services
from .status import METHOD as STATUS_METHOD
from .status import StatusReporter
from .transport import pump

log = logging.getLogger(__name__)


class CodeslmServer(LanguageServer):
    """pygls server plus the codeslm state; handlers receive it as ``ls``."""

    def __init__(
        self,
        flags: Mapping[str, Any] | None = None,
        *,
        backend_factory: BackendFactory = create_backend,
        context_factory: ProviderFactory = default_factory,
    ) -> None:
        super().__init__(
            "codeslm",
            __version__,
            text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental,
            protocol_cls=CodeslmProtocol,
        )
        self.status = StatusReporter(self._send_status)
        self.services = Services(
            flags or {},
            self.status,
            backend_factory=backend_factory,
            context_factory=context_factory,
        )
        self.documents = DocumentStore(max_bytes=self.services.config.lsp.max_document_bytes)
        self.scheduler = self.services.scheduler  # the session's: one owner of superseding
        self._background: set[asyncio.Task[Any]] = set()
        self.session_started = False  # notifications may be sent (after initialize)
        self.init_settings: dict[str, Any] = {}  # flat keys from initializationOptions
        self.pending_problems: list[str] = []  # shown once the session has started
        self.index_timers: dict[str, asyncio.TimerHandle] = {}

    # -- plumbing --------------------------------------------------------------------------

    def _send_status(self, params: dict[str, Any]) -> None:
        if self.session_started:
            self.protocol.notify(STATUS_METHOD, params)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference and logging its failure."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", name, exc_info=t.exception())

        task.add_done_callback(done)
        return task

    def show(self, message: str, kind: lsp.MessageType = lsp.MessageType.Warning) -> None:
        """A message for the user (and the log)."""
        log.log(logging.WARNING if kind <= lsp.MessageType.Warning else logging.INFO, "%s", message)
        self.window_show_message(lsp.ShowMessageParams(type=kind, message=f"codeslm: {message}"))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors pygls reports from handlers: logged (no pop-ups)."""
        cause = error.__cause__ or error.__context__
        log.error(
            "server error (%s): %s",
            getattr(source, "__name__", source),
            error,
            exc_info=cause if isinstance(cause, BaseException) else None,
        )

    def read_text(self, path: str) -> str | None:
        """The text of ``path``: the open document's if it is open, else the file's, else None
        when it does not exist. InputError for a binary, huge or unreadable file."""
        for doc in self.documents.all():
            if doc.path == path:
                return doc.text
        if not Path(path).exists():
            return None
        return read_document(path, max_bytes=self.services.config.lsp.max_document_bytes).text

    def read_text_quietly(self, path: str) -> str | None:
        try:
            return self.read_text(path)
        except InputError as exc:
            log.info("not reading %s: %s", path, exc)
            return None

    # -- transports: pygls' loops replaced by the bounded reader of .framing ----------------

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """Serve over stdio until the input ends or the client sends exit."""
        self._stop_event = stop = threading.Event()
        source = ThreadedStreamSource(stdin or sys.stdin.buffer)
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        reader = MessageReader(source.read, max_body=self.services.config.lsp.max_message_bytes)
        try:
            asyncio.run(pump(reader, self.protocol, stop))  # type: ignore[arg-type]
        except BrokenPipeError:
            log.error("the client closed the connection; stopping")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def start_tcp(self, host: str, port: int) -> None:
        """Serve one client at a time on a TCP socket."""
        self._stop_event = stop = threading.Event()
        max_body = self.services.config.lsp.max_message_bytes

        async def connection(stream: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            log.info("a client connected")
            self.protocol.set_writer(writer)  # type: ignore[arg-type]

            async def read() -> bytes:
                return await stream.read(CHUNK)

            await pump(MessageReader(read, max_body=max_body), self.protocol, stop)  # type: ignore[arg-type]
            self.shutdown()

        async def listen() -> None:
            self._server = await asyncio.start_server(connection, host, port)
            log.info("serving on %s:%s", host, port)
            async with self._server:
                await self._server.serve_forever()

        try:
            asyncio.run(listen())
        except asyncio.CancelledError:
            log.debug("the TCP server was cancelled")

    @property
    def encoding(self) -> str:
        """The negotiated position encoding (``utf-16`` unless the client offered another)."""
        try:
            encoding = self.workspace.position_encoding
        except RuntimeError:  # before initialize
            return "utf-16"
        if encoding is None:
            return "utf-16"
        return str(getattr(encoding, "value", encoding))


def serve(
    server: CodeslmServer,
    *,
    tcp: tuple[str, int] | None = None,
    stdout: Any = None,
    stdin: Any = None,
) -> None:
    """Serve over stdio (default) or TCP until the client exits."""
    if tcp is not None:
        server.start_tcp(*tcp)
    else:
        server.start_io(stdin=stdin, stdout=stdout)
