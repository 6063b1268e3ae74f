"""The ``codeslm/status`` notification: what editors show in a status line.

Params: ``{"state": "loading" | "ready" | "slow" | "error" | "disabled", "message": str,
"model": str, "backend": str, "latencyMs": number | null}``. ``slow`` means the recent
completion latency (an exponential average) is above ``completion.latency_budget_ms``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

METHOD = "codeslm/status"
_ALPHA = 0.3  # weight of the newest latency in the running average


class StatusReporter:
    """Tracks the backend state and sends a notification whenever it changes."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send
        self.state = "loading"
        self.message = ""
        self.model = ""
        self.backend = ""
        self.latency_ms: float | None = None
        self._last_sent: tuple[Any, ...] | None = None

    def describe(self, model: str, backend: str) -> None:
        self.model, self.backend = model, backend

    def params(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "message": self.message,
            "model": self.model,
            "backend": self.backend,
            "latencyMs": None if self.latency_ms is None else round(self.latency_ms, 1),
        }

    def _set(self, state: str, message: str, *, force: bool = False) -> None:
        self.state, self.message = state, message
        key = (state, message, self.model, self.backend,
               None if self.latency_ms is None else round(self.latency_ms, -1))
        if force or key != self._last_sent:
            self._last_sent = key
            try:
                self._send(self.params())
            except Exception:  # the client may be gone; the status is best effort
                log.debug("could not send the status", exc_info=True)

    def loading(self, message: str = "loading the model") -> None:
        self._set("loading", message)

    def ready(self, message: str = "ready") -> None:
        self._set("ready", message)

    def error(self, message: str) -> None:
        self._set("error", message)

    def disabled(self, message: str) -> None:
        self._set("disabled", message)

    def observe(self, latency_s: float, budget_ms: int) -> None:
        """Account one answered completion that used the model."""
        ms = latency_s * 1000.0
        self.latency_ms = ms if self.latency_ms is None else (
            _ALPHA * ms + (1 - _ALPHA) * self.latency_ms)
        if budget_ms > 0 and self.latency_ms > budget_ms:
            self._set("slow", f"completions take {self.latency_ms / 1000:.1f}s "
                              f"(budget {budget_ms / 1000:.1f}s)")
        else:
            self._set("ready", "ready")
