"""Work-done progress for long operations (a refactor's generation, loading the model).

Uses the request's ``workDoneToken`` when the client sent one, else creates a token with
``window/workDoneProgress/create`` if the client supports it, else reports nothing. A user who
cancels the progress in the editor sets :attr:`WorkProgress.cancelled`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from lsprotocol import types as lsp

log = logging.getLogger(__name__)

_CREATE_TIMEOUT_S = 5.0
_REPORT_EVERY_S = 0.5


class WorkProgress:
    """``async with WorkProgress(server, title, token) as progress: progress.report(...)``."""

    def __init__(self, server: Any, title: str, token: lsp.ProgressToken | None = None, *,
                 cancellable: bool = True) -> None:
        self._server = server
        self._title = title
        self._token = token
        self._cancellable = cancellable
        self._active = False
        self._last_report = 0.0
        self.cancelled = False
        self._on_cancel: list[Callable[[], None]] = []

    def _client_supports_create(self) -> bool:
        caps = self._server.client_capabilities
        window = getattr(caps, "window", None)
        return bool(window and window.work_done_progress)

    async def __aenter__(self) -> WorkProgress:
        progress = self._server.work_done_progress
        try:
            if self._token is None and self._client_supports_create():
                token = f"codeslm-{uuid.uuid4().hex[:12]}"
                await asyncio.wait_for(progress.create_async(token), _CREATE_TIMEOUT_S)
                self._token = token
            if self._token is not None:
                progress.begin(self._token, lsp.WorkDoneProgressBegin(
                    title=self._title, cancellable=self._cancellable))
                self._active = True
                future = progress.tokens.get(self._token)
                if future is not None:
                    future.add_done_callback(self._cancelled_by_user)
        except (TimeoutError, Exception) as exc:  # progress is a nicety, never a blocker
            log.debug("no progress for %r: %s", self._title, exc)
            self._active = False
        return self

    def _cancelled_by_user(self, future: Any) -> None:
        if future.cancelled():
            self.cancelled = True
            for callback in self._on_cancel:
                callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the user cancels this progress in the editor."""
        self._on_cancel.append(callback)

    def report(self, message: str, percentage: int | None = None, *, force: bool = False) -> None:
        """Report (at most twice a second unless ``force``)."""
        if not self._active:
            return
        now = time.monotonic()
        if not force and now - self._last_report < _REPORT_EVERY_S:
            return
        self._last_report = now
        self._server.work_done_progress.report(self._token, lsp.WorkDoneProgressReport(
            message=message, percentage=percentage, cancellable=self._cancellable))

    async def __aexit__(self, *exc: object) -> None:
        if self._active:
            try:
                self._server.work_done_progress.end(
                    self._token, lsp.WorkDoneProgressEnd(message="done"))
            except Exception:
                log.debug("could not end progress", exc_info=True)
            self._server.work_done_progress.tokens.pop(self._token, None)
            self._active = False
