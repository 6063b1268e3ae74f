"""Answers made in the background for the typed-ahead cache: follow-ups, and the rest of a
suggestion shown early.

Both put an answer where the user is about to be, so that the request there is served without
a model call:

- a **follow-up** (:meth:`Ahead.start_following`): once the user types into a suggestion at the
  end of a line, the place finishing it and pressing Enter leads to
  (:func:`~codeslm.completion.follow.follow_place`) is completed;
- **the rest of a suggestion shown early** (:meth:`Ahead.finish_later`): a suggestion answered
  with what the model had written by then (:mod:`codeslm.completion.shown_early`) has its
  generation read to the end, and the whole answer replaces the shown one.

Each runs as the engine's one background task (:class:`~codeslm.completion.warmup.Warmer`, shared
with warm-ups): any model call of the engine stops it; typing through a shown suggestion, which
needs no model call, does not. A follow-up is marked ``warm`` (the daemon drops it for any
client's real request); the rest of a shown suggestion is the real request itself, going on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable

from ..types import Completion, Document
from .cache import CachedResult, PromptCache, TypedAheadCache
from .follow import FollowPlace, follow_place
from .generation import Producer, postprocess_plan
from .plan import UNTITLED, PromptPlan
from .request import CompletionOptions, Cursor
from .stats import CompletionStats
from .stream_run import StreamRun
from .warmup import Places, Warmer

PlaceKey = tuple[str, int, int]
PlanFor = Callable[[Document, Cursor, CompletionOptions], Awaitable[PromptPlan]]

FINISHING = "the rest of a suggestion"  # the background task's name while it finishes one


def place_key(document: Document, text: str, offset: int) -> PlaceKey:
    """A place in a version of ``document``: its key, the text's hash and the offset."""
    return (document.path or UNTITLED, hash(text), offset)


class Ahead:
    """The engine's follow-ups and shown-early finishing; see the module docstring.

    ``plan_for`` plans a completion (the engine's :meth:`~codeslm.engine.CompletionEngine.plan`
    with the full window); the caches, stats, places and warmer are the engine's own.
    """

    def __init__(
        self,
        producer: Producer,
        plan_for: PlanFor,
        typed_ahead: TypedAheadCache,
        prompt_cache: PromptCache,
        stats: CompletionStats,
        places: Places,
        warmer: Warmer,
    ) -> None:
        self.producer = producer
        self.plan_for = plan_for
        self.typed_ahead = typed_ahead
        self.prompt_cache = prompt_cache
        self.stats = stats
        self.places = places
        self.warmer = warmer
        self._followed: PlaceKey | None = None  # the last follow-up's place
        self._answered: list[PlaceKey] = []  # places with a follow-up's answer
        self._closing: set[asyncio.Task[None]] = set()

    # -- follow-ups ---------------------------------------------------------------------------

    def count_hit(self, document: Document, cursor: Cursor) -> None:
        """A typed-ahead hit at ``cursor``: counted as a follow-up's when one answered there."""
        if self._answered and place_key(document, document.text, cursor.offset) in self._answered:
            self.stats.follow_up_hits += 1

    def start_following(
        self, document: Document, cursor: Cursor, typed_through: Completion
    ) -> None:
        """Start a follow-up (see :meth:`follow`) for the place the suggestion the user is typing
        through leads to (``typed_through``: the typed-ahead cache's rest of it). Only then:
        most fresh suggestions are typed over, and a follow-up for one of those would only take
        the CPU from the next real request. Not when the quick first window is in use here (its
        full window's warm-up goes first), while the rest of a suggestion shown early is being
        written (the follow-up would stop it), when there is no clear next place, or when the
        same place's follow-up was already started (every keystroke through a suggestion
        predicts it)."""
        if self.places.quick is not None or not typed_through.text.strip():
            return
        if self.warmer.running(FINISHING):
            return
        place = follow_place(document.text, cursor.offset, typed_through.text, document.language)
        if place is None:
            return
        key = place_key(document, place.text, place.offset)
        if key == self._followed:
            return
        self._followed = key
        self.warmer.start(
            self.warmer.quietly("follow-up", lambda: self.follow(document, place)), "follow-up"
        )

    async def follow(self, document: Document, place: FollowPlace) -> bool:
        """Complete at ``place`` (the document as a shown suggestion and Enter would leave it)
        and remember the answer in the typed-ahead cache for exactly that text: when the user
        gets there, the suggestion is waiting. True when an answer was remembered.

        Run it through :meth:`Warmer.quietly <codeslm.completion.warmup.Warmer.quietly>` (as
        :meth:`start_following` does): like a warm-up it waits for the engine to be idle, is
        cancelled by any model call of the engine (not by typing through a shown suggestion)
        and is marked ``warm`` (the daemon drops it for any client's real request).
        """
        options = CompletionOptions(retries=0)  # as a suggestion while typing
        await self.warmer.wait_idle(self.places)
        ahead = Document(place.text, document.path, document.language)
        cursor = Cursor.at_offset(place.text, place.offset)
        plan = await self.plan_for(ahead, cursor, options)
        plan = dataclasses.replace(plan, request=dataclasses.replace(plan.request, warm=True))
        self.warmer.streaming = True
        (text, _raw, finish, _usage), _ = await self.producer.produce(
            plan, cursor.position, time.perf_counter(), options
        )
        self.warmer.streaming = False
        if finish == "cancelled" or not text.strip():
            return False
        self.typed_ahead.remember(
            document.path or UNTITLED, place.text, place.offset, text, plan.mode.value
        )
        self.stats.follow_ups += 1
        self._answered = [*self._answered[-7:], place_key(document, place.text, place.offset)]
        return True

    # -- suggestions shown early --------------------------------------------------------------

    def finish_later(
        self, document: Document, plan: PromptPlan, run: StreamRun, cache_key: bytes | None
    ) -> None:
        """Finish in the background a generation whose beginning was shown early (see
        :meth:`finish_rest`), replacing any other background task."""
        self.stats.shown_early += 1
        finish = self.warmer.quietly(
            FINISHING, lambda: self.finish_rest(document, plan, run, cache_key)
        )
        self.warmer.start(finish, FINISHING)
        self.warmer.streaming = True  # it is talking to the backend from the start
        # Cancelled before it ran, the task never reads the run: close its stream anyway (the
        # backend would go on generating). Otherwise StreamRun.rest closes it.
        task = self.warmer.task
        assert task is not None
        task.add_done_callback(lambda done: done.cancelled() and self._close_later(run))

    def _close_later(self, run: StreamRun) -> None:
        closing = asyncio.ensure_future(run.close())
        self._closing.add(closing)  # held until done: the loop keeps only weak references
        closing.add_done_callback(self._closing.discard)

    async def finish_rest(
        self, document: Document, plan: PromptPlan, run: StreamRun, cache_key: bytes | None
    ) -> bool:
        """Read ``run`` (a generation shown early at ``plan``'s place of ``document``) to its
        end; with a ``cache_key`` (the shown answer was remembered), remember the whole answer
        in the typed-ahead cache and the prompt LRU: typing through, or accepting, the shown
        beginning then gets the rest without a model call. True when an answer was kept."""
        raw, finish, _usage = await run.rest()
        text = postprocess_plan(plan, raw, finish)
        if not text.strip() or cache_key is None:
            return False
        self.stats.finished_late += 1
        self.prompt_cache.put(cache_key, CachedResult(text, raw, finish))
        self.typed_ahead.remember(
            document.path or UNTITLED, document.text, plan.offset, text, plan.mode.value
        )
        return True
