"""Completion requests per document: debounce, superseding, cancellation and accounting.

This is the one owner of superseding: a new completion request for a document supersedes the
one still running for it. The older one's task is cancelled (the engine honours asyncio
cancellation: closing the backend stream stops the generation) and it answers
:class:`Superseded`. Automatic requests first wait ``debounce`` seconds, so a burst of keystrokes
costs one model call. A client's ``$/cancelRequest`` cancels the handler task (pygls), which
cancels the model call the same way.

:class:`~codeslm.completion.stats.CompletionStats` counts what happened to every request and,
with :class:`CpuLedger`, how much process CPU time went into model calls that were later
thrown away.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .stats import CompletionStats

T = TypeVar("T")


class TypingRhythm:
    """Recent intervals between edits of each document, for an adaptive debounce.

    While someone types steadily, asking the model after every short gap only starts
    generations that the next keystroke cancels. The debounce therefore waits a little longer
    than the user's usual gap between keystrokes (1.2 x the 75th percentile of the last few
    gaps under 1.5 s), clamped to ``[base, cap]``: a fast typist gets a longer wait, and a
    real pause still gets a suggestion promptly.
    """

    WINDOW = 8
    BURST_GAP_S = 1.5  # longer gaps are pauses, not typing rhythm

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}
        self._gaps: dict[str, deque[float]] = {}

    def edit(self, key: str) -> None:
        """Note an edit of document ``key`` now."""
        now = self._clock()
        last = self._last.get(key)
        self._last[key] = now
        if last is not None and now - last < self.BURST_GAP_S:
            self._gaps.setdefault(key, deque(maxlen=self.WINDOW)).append(now - last)

    def forget(self, key: str) -> None:
        self._last.pop(key, None)
        self._gaps.pop(key, None)

    def debounce(self, key: str, base_s: float, cap_s: float) -> float:
        """The wait before asking the model for ``key``."""
        gaps = sorted(self._gaps.get(key, ()))
        if cap_s <= base_s or len(gaps) < 3:
            return base_s
        typical = gaps[round(0.75 * (len(gaps) - 1))]
        return min(cap_s, max(base_s, 1.2 * typical))


class CpuLedger:
    """Splits process CPU time between the model calls running at the same moment.

    Between two events (a call starting or stopping) the CPU time the process used is charged
    in equal parts to the calls active then. A cancelled generation keeps the CPU busy until
    it notices (up to a prompt batch); time with no call active right after a cancellation, up
    to the next call's start, is that ``drain``. Other time with no call active is
    ``unattributed`` (protocol handling, indexing).
    """

    def __init__(self, clock: Callable[[], float] = time.process_time) -> None:
        self._clock = clock
        self._last = clock()
        self._active: dict[int, float] = {}
        self._draining = False
        self.unattributed = 0.0
        self.drain = 0.0

    def _settle(self) -> None:
        now = self._clock()
        delta, self._last = now - self._last, now
        if self._active:
            share = delta / len(self._active)
            for key in self._active:
                self._active[key] += share
        elif self._draining:
            self.drain += delta
        else:
            self.unattributed += delta

    def start(self, key: int) -> None:
        self._settle()
        self._draining = False
        self._active[key] = 0.0

    def stop(self, key: int, *, cancelled: bool = False) -> float:
        """End ``key``'s call; its CPU so far. After a cancellation, idle CPU is drain."""
        self._settle()
        if cancelled and len(self._active) == 1:
            self._draining = True
        return self._active.pop(key, 0.0)


@dataclass(frozen=True, slots=True)
class Superseded:
    """The answer of a request that a newer one for the same document (or an explicit
    :meth:`Scheduler.cancel`) replaced before it finished: nothing to show, and no error.

    ``phase`` is where it was stopped: ``waiting`` (debounce, no model work) or ``model``.
    """

    phase: str


class _Ticket:
    __slots__ = ("id", "phase")

    def __init__(self, ticket_id: int) -> None:
        self.id = ticket_id
        self.phase = "waiting"  # waiting -> model -> done


class Scheduler:
    """One lane of completion work per document; see the module docstring."""

    def __init__(self, stats: CompletionStats | None = None,
                 ledger: CpuLedger | None = None) -> None:
        self.stats = stats if stats is not None else CompletionStats()
        self.ledger = ledger or CpuLedger()
        self.rhythm = TypingRhythm()
        self._lanes: dict[str, asyncio.Task[Any]] = {}
        self._ids = itertools.count(1)

    def cancel(self, key: str) -> bool:
        """Cancel the work running for ``key`` (e.g. the document closed): its :meth:`run`
        answers :class:`Superseded`. True when something was running."""
        task = self._lanes.pop(key, None)
        running = task is not None and not task.done()
        if task is not None and running:
            task.cancel()
        self.rhythm.forget(key)
        return running

    async def run(
        self,
        key: str,
        work: Callable[[], Awaitable[T]],
        *,
        debounce_s: float = 0.0,
    ) -> T | Superseded:
        """Run ``work`` for document ``key`` after ``debounce_s``.

        :class:`Superseded` when a newer request for ``key`` (or :meth:`cancel`) replaced it;
        a cancellation of the caller itself (``$/cancelRequest``) propagates.
        """
        ticket = _Ticket(next(self._ids))
        previous = self._lanes.get(key)
        if previous is not None and not previous.done():
            previous.cancel()
        inner = asyncio.ensure_future(self._body(ticket, work, debounce_s))
        self._lanes[key] = inner
        try:
            return await inner
        except asyncio.CancelledError:
            by_client = _being_cancelled()
            self._count_cancelled(ticket, by_client)
            if by_client:
                inner.cancel()
                raise
            self.stats.superseded += 1
            return Superseded(ticket.phase)
        finally:
            if self._lanes.get(key) is inner:
                del self._lanes[key]

    async def _body(self, ticket: _Ticket, work: Callable[[], Awaitable[T]],
                    debounce_s: float) -> T:
        if debounce_s > 0:
            await asyncio.sleep(debounce_s)
        ticket.phase = "model"
        self.ledger.start(ticket.id)
        cpu = 0.0
        try:
            result = await work()
        except asyncio.CancelledError:
            cpu = self.ledger.stop(ticket.id, cancelled=True)
            self.stats.cpu_cancelled_s += cpu
            raise
        except BaseException:
            self.stats.cpu_served_s += self.ledger.stop(ticket.id)
            ticket.phase = "done"
            raise
        self.stats.cpu_served_s += self.ledger.stop(ticket.id)
        ticket.phase = "done"
        return result

    def _count_cancelled(self, ticket: _Ticket, by_client: bool) -> None:
        if ticket.phase == "waiting":
            self.stats.debounced += 1
        elif ticket.phase == "model":
            self.stats.cancelled += 1
        if by_client:
            self.stats.client_cancelled += 1


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
