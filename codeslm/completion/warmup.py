"""Which prompt window a request gets, and warming the backend's cache ahead of the user.

:class:`Places` remembers where the engine's recent requests were. With ``quick_first`` on,
a request at a new place (another document, or more than :data:`NEAR_LINES` lines away) uses
the quick window, and so do the requests that follow there (typing, an invoked request's
candidates) until the full window's prompt has been evaluated there; the answer of each quick
request starts that evaluation in the background. The two windows' prompts share no prefix,
so this needs a backend that keeps several prompts' caches (``Backend.keeps_prompts``: the
llama.cpp prompt stash); without one, the engine turns ``quick_first`` off. A warm-up warms
what the next request would send, and then the full window.

:class:`Warmer` holds the one background warm-up (a request that has the backend evaluate the
prompt the next completion will send, generating one token): a real request cancels one that is
talking to the backend; one still waiting for the engine to be idle stays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from ..types import Position

log = logging.getLogger(__name__)

NEAR_LINES = 3  # a request within this many lines of the previous one is at the same place
WARM_QUIET_S = 0.15  # a warm-up starts after completions have been idle this long

Place = tuple[str, int]  # (document key, line)


def near(place: Place | None, key: str, position: Position) -> bool:
    """Whether ``position`` of document ``key`` is within :data:`NEAR_LINES` of ``place``."""
    return place is not None and place[0] == key and abs(place[1] - position.line) <= NEAR_LINES


class Places:
    """Where the engine's requests were and when it was last busy; see the module docstring."""

    def __init__(self, quick_first: bool = False) -> None:
        self.quick_first = quick_first
        self.last: Place | None = None  # the previous request (or finished warm-up)
        self.quick: Place | None = None  # where the quick window is in use
        self.full: Place | None = None  # where the full window's prompt was last evaluated
        self.active = 0  # complete() calls running (a warm-up waits for none)
        self.last_active = 0.0

    def begin(self) -> None:
        """A complete() call starts."""
        self.active += 1

    def end(self) -> None:
        """A complete() call ended (however it ended)."""
        self.active -= 1
        self.last_active = time.monotonic()

    def idle(self) -> bool:
        """No call is running and none ran for :data:`WARM_QUIET_S`."""
        return not self.active and time.monotonic() - self.last_active >= WARM_QUIET_S

    def next_is_quick(self, key: str, position: Position) -> bool:
        """Whether the next request at ``position`` of document ``key`` would use the quick
        window (nothing is noted)."""
        if not self.quick_first or near(self.full, key, position):
            return False
        return not near(self.last, key, position) or near(self.quick, key, position)

    def choose_quick(self, key: str, position: Position) -> bool:
        """Whether a request at ``position`` of document ``key`` uses the quick window; notes
        the request's place."""
        quick = self.next_is_quick(key, position)
        place = (key, position.line)
        self.last = place
        if quick:
            self.quick = place
        else:
            self.quick, self.full = None, place
        return quick

    def warmed(self, key: str, position: Position, *, quick: bool = False) -> None:
        """A warm-up at ``position`` finished. After the full window's the place is current
        and later requests there use the full window; a quick warm-up notes nothing (the
        request there will send the quick prompt it warmed)."""
        if not quick:
            self.last = self.full = (key, position.line)
            self.quick = None


class Warmer:
    """The one background warm-up task of an engine; see the module docstring."""

    def __init__(self) -> None:
        self.task: asyncio.Task[bool] | None = None
        self.what = ""  # what the task does (its name in logs)
        self.streaming = False  # the warm-up is talking to the backend

    def start(self, warm_up: Coroutine[Any, Any, bool], what: str = "warm-up") -> None:
        """Run ``warm_up`` (``what``) in the background, replacing a warm-up still running."""
        self.stop(waiting_too=True)
        self.streaming = False
        self.task = asyncio.ensure_future(warm_up)
        self.what = what

    def running(self, what: str) -> bool:
        """Whether a background task started as ``what`` is running."""
        return self.task is not None and not self.task.done() and self.what == what

    def stop(self, *, waiting_too: bool = False) -> None:
        """Cancel the warm-up if it is talking to the backend (one still waiting for the
        engine to be idle stays, unless ``waiting_too``)."""
        if self.task is None or self.task.done():
            self.task = None
            return
        if self.streaming or waiting_too:
            self.task.cancel()
            self.task = None

    async def quietly(self, what: str, body: Callable[[], Awaitable[bool]]) -> bool:
        """Run ``body``, a background optimisation: its result, or False when it was cancelled
        or failed (logged at debug level: it must never break a completion); ``streaming`` is
        reset however it ends."""
        try:
            return await body()
        except asyncio.CancelledError:
            return False
        except Exception as exc:
            log.debug("%s failed: %s", what, exc)
            return False
        finally:
            # Only for the current task: one cancelled by start() may end after its successor
            # has begun talking to the backend.
            if self.task is None or self.task is asyncio.current_task():
                self.streaming = False

    async def wait_idle(self, places: Places) -> None:
        """Wait until no completion has run for a moment: the candidates of one invoked
        request, or a burst of keystrokes, come first."""
        while not places.idle():
            await asyncio.sleep(WARM_QUIET_S / 3)
