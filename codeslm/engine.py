"""The completion engine: (document, cursor, options, backend) -> :class:`Completion`.

Orchestration: it plans the prompt (:mod:`codeslm.completion.plan`: the window, the mode, the
cross-file context of an optional provider, the model family's FIM format), streams from the
backend and stops the stream as soon as the completion is decided
(:mod:`codeslm.completion.generation`), and post-processes the raw text. Every surface (CLI,
language server, evaluation) goes through :meth:`CompletionEngine.complete`; the composition
root (:mod:`codeslm.session`) builds the engines.

Latency machinery for the language server:

- **typed-ahead cache**: after a completion was shown, a request whose document is the old one
  plus the first characters of that completion typed at the old cursor is answered with the
  rest at once (``Completion.cached`` is True, no model call);
- **prompt LRU**: an identical request (same prompt, limits and mode) is answered from memory;
- **cancellation**: the engine honours asyncio cancellation: a cancelled ``complete`` closes
  the backend stream, which stops generation in every backend. Superseding (a newer request
  for a document cancelling the older) is the scheduler's
  (:mod:`codeslm.completion.scheduler`);
- **deadline**: with ``completion.latency_budget_ms`` set, ``max_tokens`` is derived from the
  measured speed of this backend, and a stream that runs past the budget is ended at the last
  complete line;
- **early first line**: ``on_partial`` is called once with the post-processed first line of a
  multi-line completion as soon as it is complete, while generation goes on;
- **retries**: when post-processing rejects all the model wrote (a repeat of the next line, a
  ``return`` that makes the code below dead), a few seeded samples are tried within the budget;
- **quick first window and warm-ups** (:mod:`codeslm.completion.warmup`): the first request at
  a new place may use a short window, and the full prompt is evaluated in the background;
- **follow-up** (``options.follow``, :mod:`codeslm.completion.follow`): once the user types into
  a suggestion, the next line is completed in the background for the typed-ahead cache;
- **shown early** (``options.show_within_s``): a suggestion still being written after that
  long is answered with what the model has written (:mod:`codeslm.completion.shown_early`), and
  the generation goes on in the background; its whole answer replaces the shown one in the
  typed-ahead cache, so typing through the shown text gets the rest without a model call.
"""

from __future__ import annotations

import dataclasses
import logging
import time

from .backends.base import Backend
from .completion.ahead import Ahead
from .completion.cache import CachedResult, PromptCache, TypedAheadCache
from .completion.deadline import ThroughputTracker
from .completion.generation import Producer
from .completion.plan import UNTITLED, Planner, PromptPlan
from .completion.request import DEFAULT_OPTIONS, CompletionOptions, Cursor
from .completion.stats import CompletionStats
from .completion.warmup import Places, Warmer
from .config import Config
from .context.port import ContextProvider
from .fim import FimFormat
from .types import Completion, CompletionMode, Document, Position, Range

log = logging.getLogger(__name__)


class CompletionEngine:
    """Completions at a cursor for any backend; see the module docstring.

    One engine serves one backend and may be shared by every document of an editor session;
    it is meant to be used from one event loop. ``stats`` is the session's
    :class:`~codeslm.completion.stats.CompletionStats` (a fresh one when not given).
    """

    def __init__(
        self,
        backend: Backend,
        config: Config,
        *,
        context_provider: ContextProvider | None = None,
        quick_first: bool = False,
        stats: CompletionStats | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.stats = stats if stats is not None else CompletionStats()
        self.typed_ahead = TypedAheadCache()
        self.prompt_cache = PromptCache(config.completion.cache_size)
        self.speed = ThroughputTracker()
        self.planner = Planner(backend, config, self.speed, context_provider)
        self.producer = Producer(backend, config, self.stats, self.speed, self.planner.count_tokens)
        # quick_first: requests at a new place use the quick window until the full prompt has
        # been warmed in the background (the language server's lsp.quick_first). Only with a
        # backend that keeps both prompts' caches: otherwise each would evict the other.
        self.places = Places(quick_first and backend.keeps_prompts)
        self.warmer = Warmer()
        self.ahead = Ahead(
            self.producer,
            self.plan,
            self.typed_ahead,
            self.prompt_cache,
            self.stats,
            self.places,
            self.warmer,
        )

    @property
    def context_provider(self) -> ContextProvider | None:
        """The provider of cross-file context (None: the current file alone)."""
        return self.planner.context_provider

    async def fim_format(self) -> FimFormat:
        """The model's FIM format: from the config, else detected from its vocabulary once."""
        return await self.planner.fim_format()

    def count_tokens(self, text: str) -> int:
        """Token count with the backend's tokenizer when it has a cheap one, else an estimate."""
        return self.planner.count_tokens(text)

    def decide_mode(self, document: Document, at: Position | Cursor) -> CompletionMode:
        """The mode AUTO resolves to at ``at`` (config ``completion.mode`` first)."""
        return self.planner.decide_mode(document, _cursor(document, at))

    async def plan(
        self,
        document: Document,
        at: Position | Cursor,
        options: CompletionOptions = DEFAULT_OPTIONS,
        *,
        quick: bool = False,
    ) -> PromptPlan:
        """Decide the prompt and request for a completion without calling the model.

        Without ``options.max_tokens`` the configured maximum for the mode applies, lowered by
        the deadline (``completion.latency_budget_ms``) once this backend's speed is measured.
        ``quick`` uses the short first window (:data:`~codeslm.completion.plan.QUICK_PREFIX_CHARS`
        and friends).
        """
        return await self.planner.plan(document, _cursor(document, at), options, quick=quick)

    # -- warm-ups -----------------------------------------------------------------------------

    def start_warming(
        self, document: Document, at: Position | Cursor, *, full_only: bool = False
    ) -> None:
        """Warm the prompt cache for a completion at ``at`` in the background, replacing a
        warm-up still running; see :meth:`warm`."""
        self.warmer.start(self.warm(document, at, full_only=full_only))

    def stop_warming(self, *, waiting_too: bool = False) -> None:
        """Cancel the background warm-up if it is talking to the backend (one still waiting
        for the engine to be idle stays, unless ``waiting_too``)."""
        self.warmer.stop(waiting_too=waiting_too)

    async def warm(
        self, document: Document, at: Position | Cursor, *, full_only: bool = False
    ) -> bool:
        """Have the backend evaluate the prompt a completion at ``at`` would send,
        generating nothing useful (one token), so that the request which follows reuses it.
        With the quick first window in use there, that is the quick prompt, and then the full
        one (``full_only``: the full one alone, after a quick answer).

        The requests are marked ``warm``: the daemon runs them last and drops them for any
        real request. True when the backend finished; False when it was cancelled or failed
        (a warm-up never raises: it is an optimisation).
        """
        return await self.warmer.quietly("warm-up", lambda: self._warm(document, at, full_only))

    async def _warm(self, document: Document, at: Position | Cursor, full_only: bool) -> bool:
        cursor = _cursor(document, at)
        await self.warmer.wait_idle(self.places)
        key = document.path or UNTITLED
        windows = [False]
        if not full_only and self.places.next_is_quick(key, cursor.position):
            windows.insert(0, True)
        for quick in windows:
            plan = await self.plan(document, cursor, CompletionOptions(max_tokens=1), quick=quick)
            request = dataclasses.replace(
                plan.request, max_tokens=1, warm=True, cache_key=None, first_identifier=()
            )
            self.warmer.streaming = True
            async for _chunk in self.backend.stream(request):
                pass
            self.warmer.streaming = False
            self.stats.warmups += 1
            self.places.warmed(key, cursor.position, quick=quick)
        return True

    # -- completions --------------------------------------------------------------------------

    def cached(self, document: Document, at: Position | Cursor) -> Completion | None:
        """The rest of a shown completion the user is typing through, or None (no model call)."""
        cursor = _cursor(document, at)
        found = self.typed_ahead.lookup(document.path or UNTITLED, document.text, cursor.offset)
        if found is None:
            return None
        rest, mode = found
        here = Range(cursor.position, cursor.position)
        return Completion(
            text=rest,
            range=here,
            mode=CompletionMode(mode),
            raw=rest,
            cached=True,
            finish_reason="cached",
        )

    def _typed_ahead(
        self, document: Document, cursor: Cursor, *, follow: bool
    ) -> Completion | None:
        """:meth:`cached`, counted; with ``follow``, a hit starts the follow-up of the suggestion
        being typed through. No model call: a follow-up or warm-up in the background goes on."""
        hit = self.cached(document, cursor)
        if hit is None:
            return None
        self.stats.typed_ahead_hits += 1
        self.ahead.count_hit(document, cursor)
        if follow:
            self.ahead.start_following(document, cursor, hit)
        return hit

    def forget(self, document: Document | str) -> None:
        """Drop the typed-ahead memory of a document (closed or replaced)."""
        self.typed_ahead.forget(
            document if isinstance(document, str) else (document.path or UNTITLED)
        )

    async def complete(
        self,
        document: Document,
        at: Position | Cursor,
        options: CompletionOptions = DEFAULT_OPTIONS,
    ) -> Completion:
        """Complete at ``at`` (a :class:`Cursor`, or a 0-based line and code point column) of
        ``document`` as ``options`` say (:class:`~codeslm.completion.request.CompletionOptions`).

        The returned completion's ``raw`` is the model's text as generated (or cached).
        Errors are :class:`~codeslm.errors.CodeslmError`; cancelling the caller cancels the
        generation (the backend stream is closed) and raises ``CancelledError``.
        """
        cursor = _cursor(document, at)
        self.places.begin()
        try:
            return await self._complete(document, cursor, options)
        finally:
            self.places.end()

    async def _complete(
        self, document: Document, cursor: Cursor, options: CompletionOptions
    ) -> Completion:
        started = time.perf_counter()
        self.stats.engine_calls += 1
        position = cursor.position
        here = Range(position, position)
        hit = options.use_cache and self._typed_ahead(document, cursor, follow=options.follow)
        if hit:
            return dataclasses.replace(hit, latency_s=time.perf_counter() - started)
        self.stop_warming()  # a model call outranks filling the cache ahead
        quick = self.places.choose_quick(document.path or UNTITLED, position)
        plan = await self.plan(document, cursor, options, quick=quick)
        if quick:
            # Evaluate the full window once this answer is out (a background warm-up any real
            # request cancels; the backend's stash keeps what it has done between requests).
            self.start_warming(document, cursor, full_only=True)
        cache_key = PromptCache.key(
            plan.prompt,
            plan.request.max_tokens,
            plan.request.stop,
            plan.mode.value,
            plan.language,
            options.early_stop,
            options.retries,  # a rejected answer's retries (or none) decide what is shown
        )
        deterministic = plan.request.temperature <= 0
        remember = options.use_cache and deterministic
        if remember and (saved := self.prompt_cache.get(cache_key)):
            return self._saved(document, plan, saved, here, started)
        show_by = None if quick or options.show_within_s is None else (
            started + options.show_within_s
        )
        (text, raw, finish, usage), rest = await self.producer.produce(
            plan, position, started, options, show_by=show_by
        )
        completion = Completion(
            text=text,
            range=here,
            mode=plan.mode,
            raw=raw,
            latency_s=time.perf_counter() - started,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            finish_reason=finish,
        )
        self.stats.record_engine_latency_s(completion.latency_s)
        self.stats.prompt_tokens += usage.prompt_tokens or 0
        self.stats.cached_prompt_tokens += usage.cached_prompt_tokens or 0
        if rest is not None:
            self.ahead.finish_later(document, plan, rest, cache_key if remember else None)
        elif remember:
            self.prompt_cache.put(cache_key, CachedResult(text, raw, finish))
        if remember:
            self._remember(document, plan, completion)
        return completion

    def _saved(
        self,
        document: Document,
        plan: PromptPlan,
        saved: CachedResult,
        here: Range,
        started: float,
    ) -> Completion:
        """The prompt LRU's answer for ``plan`` (remembered as shown)."""
        self.stats.prompt_cache_hits += 1
        completion = Completion(
            text=saved.text,
            range=here,
            mode=plan.mode,
            raw=saved.raw,
            latency_s=time.perf_counter() - started,
            cached=True,
            finish_reason=saved.finish_reason,
        )
        self._remember(document, plan, completion)
        return completion

    def _remember(self, document: Document, plan: PromptPlan, completion: Completion) -> None:
        self.typed_ahead.remember(
            document.path or UNTITLED, document.text, plan.offset, completion.text, plan.mode.value
        )


def _cursor(document: Document, at: Position | Cursor) -> Cursor:
    """``at`` as a cursor of ``document`` (a Position is converted once, here)."""
    return at if isinstance(at, Cursor) else Cursor.at(document.text, at)
