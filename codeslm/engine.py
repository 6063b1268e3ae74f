"""The completion engine: (document, cursor, config, backend) -> :class:`Completion`.

Orchestration: it cuts the prompt window, asks an optional context provider for cross-file
blocks, renders the model family's FIM format, streams from the backend, stops the stream as
soon as the completion is decided, and hands the raw text to :mod:`codeslm.completion` for
post-processing. Every surface (CLI, language server, evaluation) goes through
:meth:`CompletionEngine.complete`.

Latency machinery for the language server (all in :class:`CompletionEngine`):

- **typed-ahead cache**: after a completion was shown, a request whose document is the old one
  plus the first characters of that completion typed at the old cursor is answered with the
  rest at once (``Completion.cached`` is True, no model call);
- **prompt LRU**: an identical request (same prompt, limits and mode) is answered from memory;
- **superseding**: a new request for a document cancels the one still running for it (its
  ``complete`` returns an empty completion with ``finish_reason == "superseded"``); the
  backend stream is closed, which stops generation in every backend;
- **deadline**: with ``completion.latency_budget_ms`` set, ``max_tokens`` is derived from the
  measured speed of this backend, and a stream that runs past the budget is ended at the last
  complete line;
- **early first line**: ``on_partial`` is called once with the post-processed first line of a
  multi-line completion as soon as it is complete, while generation goes on;
- **retries**: when post-processing rejects all the model wrote (a repeat of the next line, a
  ``return`` that makes the code below dead), a few seeded samples are tried within the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import fim
from .backends.base import Backend
from .completion import Hole, decide_mode, postprocess
from .completion.blockindent import missing_indentation, starts_shallower
from .completion.cache import CachedResult, PromptCache, TypedAheadCache
from .completion.deadline import ThroughputTracker
from .completion.stopping import StreamStopper
from .config import Config
from .context.port import (
    ContextProvider,
    CrossFileContext,
    estimate_tokens,
    window,
)
from .documents import line_comment, offset_of, position_at
from .errors import BackendRejected
from .fim import FimFormat
from .types import (
    Completion,
    CompletionMode,
    Document,
    GenerationRequest,
    Position,
    Range,
    Usage,
)

log = logging.getLogger(__name__)

PartialCallback = Callable[[Completion], None]


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """Everything decided before calling the model.

    ``prefix``/``suffix`` are the windows of the document the model sees; ``offset`` is the
    cursor's offset in the whole document; ``language`` its tree-sitter name (or None).
    ``at_block`` is the same request with the cursor moved to its block's indentation (a
    cursor at column 0 inside a body), asked only when the completion at the real cursor starts
    shallower than that (top-level code such as ``def main():``); its ``prefix`` ends with its
    ``lead``, the whitespace added, and its completion starts with it.
    """

    prompt: str
    prefix: str
    suffix: str
    mode: CompletionMode
    request: GenerationRequest
    context_files: int
    offset: int = 0
    language: str | None = None
    lead: str = ""
    at_block: PromptPlan | None = None

    @property
    def hole(self) -> Hole:
        """The hole the post-processing rules see."""
        return Hole(self.prefix, self.suffix, self.language, self.mode)


UNTITLED = "<untitled>"
MIN_TOKENS_SINGLE_LINE = 8  # the deadline never asks for fewer tokens than these
MIN_TOKENS_MULTI_LINE = 16
RETRY_TEMPERATURE = 0.7  # sampling temperature of retries after a rejected completion
# The quick first window at a new place (see ``quick_first``): about 450 prompt tokens, which
# a 2-core CPU evaluates in ~2.5 s, against ~1,000 tokens (~5.5 s) for the full window.
QUICK_PREFIX_CHARS = 1200
QUICK_SUFFIX_CHARS = 300
QUICK_CONTEXT_TOKENS = 128
NEAR_LINES = 3  # a request within this many lines of the previous one is at the same place
WARM_QUIET_S = 0.15  # a warm-up starts after completions have been idle this long
BURST_S = 0.1  # calls closer than this belong to one request (an invoked request's candidates)


@dataclass
class EngineStats:
    """Counters the language server and ``doctor`` can show."""

    requests: int = 0
    model_calls: int = 0
    typed_ahead_hits: int = 0
    prompt_cache_hits: int = 0
    superseded: int = 0
    retries: int = 0
    retry_successes: int = 0
    stopped_early: int = 0
    deadline_stops: int = 0
    prompt_tokens: int = 0  # of model calls, and of those how many the backend had cached
    cached_prompt_tokens: int = 0
    latencies_s: list[float] = field(default_factory=list)


@dataclass
class _Flight:
    task: asyncio.Task[tuple[str, str, str | None, Usage]]
    superseded: bool = False


class CompletionEngine:
    """Completions at a cursor for any backend; see the module docstring.

    One engine serves one backend and may be shared by every document of an editor session;
    it is meant to be used from one event loop.
    """

    def __init__(
        self,
        backend: Backend,
        config: Config,
        *,
        context_provider: ContextProvider | None = None,
        quick_first: bool = False,
    ) -> None:
        self.backend = backend
        self.config = config
        self.context_provider = context_provider
        self._format: FimFormat | None = None
        self._stop_ids: tuple[int, ...] = ()
        self._format_lock = asyncio.Lock()
        self.typed_ahead = TypedAheadCache()
        self.prompt_cache = PromptCache(config.completion.cache_size)
        self.speed = ThroughputTracker()
        self.stats = EngineStats()
        self._inflight: dict[str, _Flight] = {}
        # quick_first: the first request at a new place uses the quick window, then the full
        # prompt is warmed in the background (the language server turns this on).
        self.quick_first = quick_first
        self.warms_after_quick = True  # False for an engine that follows another (follow())
        self._last_place: tuple[str, int] | None = None
        self._quick_place: tuple[str, int] | None = None  # where the last quick request was
        self._warming: asyncio.Task[bool] | None = None
        self._warm_streaming = False
        self._active = 0  # complete() calls running (a warm-up waits for none)
        self._last_active = 0.0
        self.warmups = 0

    async def fim_format(self) -> FimFormat:
        """The model's FIM format: from the config, else detected from its vocabulary once."""
        if self._format is not None:
            return self._format
        async with self._format_lock:
            if self._format is None:
                name = self.config.completion.fim_format
                hint: str | None = None
                if name and name != "auto":
                    fmt = fim.get_format(name)
                elif (hint := await self.backend.fim_format_hint()) is not None:
                    fmt = fim.get_format(hint)  # a server without a tokenizer (Ollama)
                else:
                    counts = {tok: len(await self.backend.tokenize(tok))
                              for f in fim.load_formats().values() for tok in f.detect}
                    fmt = fim.detect_format(lambda tok: counts[tok])
                ids: list[int] = []
                try:
                    for stop in fmt.stop:
                        toks = await self.backend.tokenize(stop)
                        if len(toks) == 1 and toks[0] not in ids:
                            ids.append(toks[0])
                except BackendRejected:
                    ids = []  # no tokenizer: the stop strings alone end completions
                self._stop_ids = tuple(ids)
                self._format = fmt
        return self._format

    def count_tokens(self, text: str) -> int:
        """Token count with the backend's tokenizer when it has a cheap one, else an estimate."""
        exact = self.backend.count_tokens_sync(text)
        return exact if exact is not None else estimate_tokens(text)

    def decide_mode(self, document: Document, position: Position) -> CompletionMode:
        """The mode AUTO resolves to at ``position`` (config ``completion.mode`` first)."""
        cfg = self.config.completion
        if cfg.mode != CompletionMode.AUTO.value:
            return CompletionMode(cfg.mode)
        offset = offset_of(document.text, position)
        prefix, suffix = window(document.text, offset, cfg.prefix_chars, cfg.suffix_chars)
        prefix += missing_indentation(Hole(prefix, suffix, document.language))
        return decide_mode(Hole(prefix, suffix, document.language))

    async def plan(
        self,
        document: Document,
        position: Position,
        *,
        mode: CompletionMode = CompletionMode.AUTO,
        use_context: bool = True,
        max_tokens: int | None = None,
        quick: bool = False,
    ) -> PromptPlan:
        """Decide the prompt and request for a completion without calling the model.

        Without ``max_tokens`` the configured maximum for the mode applies, lowered by the
        deadline (``completion.latency_budget_ms``) once this backend's speed is measured.
        ``quick`` uses the short first-window (:data:`QUICK_PREFIX_CHARS` and friends).
        """
        cfg = self.config.completion
        offset = offset_of(document.text, position)
        prefix_chars, suffix_chars = cfg.prefix_chars, cfg.suffix_chars
        budget_tokens = self.config.context.budget_tokens
        if quick:
            prefix_chars = min(prefix_chars, QUICK_PREFIX_CHARS)
            suffix_chars = min(suffix_chars, QUICK_SUFFIX_CHARS)
            budget_tokens = min(budget_tokens, QUICK_CONTEXT_TOKENS)
        prefix, suffix = window(document.text, offset, prefix_chars, suffix_chars)
        # A cursor left at column 0 inside a body: the indentation its block has (_produce).
        lead = missing_indentation(Hole(prefix, suffix, document.language))
        if mode is CompletionMode.AUTO and cfg.mode != CompletionMode.AUTO.value:
            mode = CompletionMode(cfg.mode)
        if mode is CompletionMode.AUTO:
            mode = decide_mode(Hole(prefix, suffix, document.language))
        fmt = await self.fim_format()
        context = CrossFileContext()
        if use_context and self.config.context.enabled and self.context_provider is not None:
            context = self.context_provider.context_for(
                document, offset, budget_tokens=budget_tokens,
                count_tokens=self.count_tokens,
            )
        def render(shown: str) -> str:
            return fmt.render(
                shown,
                suffix,
                path=(context.path or document.path) if context.files else None,
                files=context.files,
                repo_name=context.repo_name,
                comment=line_comment(document.language),
            )

        prompt = render(prefix)
        stops = list(fmt.stop)
        if max_tokens is None:
            single = mode is CompletionMode.SINGLE_LINE
            ceiling = cfg.max_tokens_single_line if single else cfg.max_tokens
            floor = min(ceiling, MIN_TOKENS_SINGLE_LINE if single else MIN_TOKENS_MULTI_LINE)
            max_tokens = self.speed.max_tokens_for(
                prompt, cfg.latency_budget_ms / 1000, floor=floor, ceiling=ceiling
            )
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=cfg.temperature,
            stop=tuple(stops),
            stop_token_ids=self._stop_ids,
            cache_key=document.path or UNTITLED,
            first_identifier=context.member_names,
        )
        at_block = None
        if lead:
            indented = render(prefix + lead)
            at_block = PromptPlan(indented, prefix + lead, suffix, mode,
                                  dataclasses.replace(request, prompt=indented),
                                  len(context.files), offset, document.language, lead)
        return PromptPlan(prompt, prefix, suffix, mode, request, len(context.files), offset,
                          document.language, at_block=at_block)

    def follow(self, leader: CompletionEngine) -> None:
        """Take ``leader``'s window decision for the next calls at the same place (a second
        engine sampling candidates for the same request must send the same window, or the
        two prompts would evict each other from the KV cache); it warms nothing itself."""
        self.quick_first = leader.quick_first
        self.warms_after_quick = False
        self._last_place = leader._last_place
        self._quick_place = leader._quick_place
        self._last_active = leader._last_active

    def _new_place(self, key: str, position: Position) -> bool:
        """Whether a request at ``position`` of document ``key`` is away from the previous
        request (another document, or more than :data:`NEAR_LINES` lines off); notes it."""
        last, self._last_place = self._last_place, (key, position.line)
        return not _near(last, key, position)

    def start_warming(self, document: Document, position: Position) -> None:
        """Warm the prompt cache for a completion at ``position`` in the background,
        replacing a warm-up still running; see :meth:`warm`."""
        self.stop_warming(waiting_too=True)
        self._warming = asyncio.ensure_future(self.warm(document, position))

    def stop_warming(self, *, waiting_too: bool = False) -> None:
        """Cancel the background warm-up if it is talking to the backend (one still waiting
        for the engine to be idle stays, unless ``waiting_too``)."""
        if self._warming is None or self._warming.done():
            self._warming = None
            return
        if self._warm_streaming or waiting_too:
            self._warming.cancel()
            self._warming = None

    async def warm(self, document: Document, position: Position) -> bool:
        """Have the backend evaluate the prompt a completion at ``position`` would send,
        generating nothing useful (one token), so that the request which follows reuses it.

        The request is marked ``warm``: the daemon runs it last and drops it for any real
        request. True when the backend finished it; False when it was cancelled or failed
        (a warm-up never raises: it is an optimisation).
        """
        try:
            # Wait until no completion has run for a moment: the candidates of one invoked
            # request, or a burst of keystrokes, come first.
            while self._active or time.monotonic() - self._last_active < WARM_QUIET_S:
                await asyncio.sleep(WARM_QUIET_S / 3)
            plan = await self.plan(document, position, max_tokens=1)
            request = dataclasses.replace(plan.request, max_tokens=1, warm=True, cache_key=None,
                                          first_identifier=())
            self._warm_streaming = True
            async for _chunk in self.backend.stream(request):
                pass
        except asyncio.CancelledError:
            return False
        except Exception as exc:  # an optimisation must never break a completion
            log.debug("warm-up failed: %s", exc)
            return False
        finally:
            self._warm_streaming = False
        self.warmups += 1
        key = document.path or UNTITLED
        self._last_place = (key, position.line)
        return True

    def cached(self, document: Document, position: Position) -> Completion | None:
        """The rest of a shown completion the user is typing through, or None (no model call)."""
        offset = offset_of(document.text, position)
        found = self.typed_ahead.lookup(document.path or UNTITLED, document.text, offset)
        if found is None:
            return None
        rest, mode = found
        return Completion(text=rest, range=Range(position, position), mode=CompletionMode(mode),
                          raw=rest, cached=True, finish_reason="cached")

    def cancel(self, document: Document | str | None = None) -> bool:
        """Cancel the running request for ``document`` (a Document or its path), or every
        running request when None. True when something was cancelled."""
        if document is None:
            keys = list(self._inflight)
        else:
            key = document if isinstance(document, str) else (document.path or UNTITLED)
            keys = [key] if key in self._inflight else []
        for key in keys:
            flight = self._inflight[key]
            flight.superseded = True
            flight.task.cancel()
        return bool(keys)

    def forget(self, document: Document | str) -> None:
        """Drop the typed-ahead memory of a document (closed or replaced)."""
        self.typed_ahead.forget(document if isinstance(document, str) else
                                (document.path or UNTITLED))

    async def complete(
        self,
        document: Document,
        position: Position,
        *,
        mode: CompletionMode = CompletionMode.AUTO,
        use_context: bool = True,
        max_tokens: int | None = None,
        use_cache: bool = True,
        supersede: bool = True,
        early_stop: bool = True,
        on_partial: PartialCallback | None = None,
    ) -> Completion:
        """Complete at ``position`` (0-based line, code point column) of ``document``.

        - ``use_cache``: consult and fill the typed-ahead cache and the prompt LRU;
        - ``supersede``: cancel a request still running for the same document (``path``);
        - ``early_stop``: end the stream once the completion is decided (see
          :mod:`codeslm.completion.stopping`); ``False`` runs to ``max_tokens`` or a stop
          token, which evaluations use to keep the unprocessed output;
        - ``on_partial(completion)``: called once, for a multi-line completion, with its
          first line as soon as that line is complete (``finish_reason == "partial"``).

        The returned completion's ``raw`` is the model's text as generated (or cached).
        Errors are :class:`~codeslm.errors.CodeslmError`; a superseded request returns an
        empty completion with ``finish_reason == "superseded"``.
        """
        self._active += 1
        try:
            return await self._complete(
                document, position, mode=mode, use_context=use_context, max_tokens=max_tokens,
                use_cache=use_cache, supersede=supersede, early_stop=early_stop,
                on_partial=on_partial)
        finally:
            self._active -= 1
            self._last_active = time.monotonic()

    async def _complete(
        self,
        document: Document,
        position: Position,
        *,
        mode: CompletionMode,
        use_context: bool,
        max_tokens: int | None,
        use_cache: bool,
        supersede: bool,
        early_stop: bool,
        on_partial: PartialCallback | None,
    ) -> Completion:
        started = time.perf_counter()
        self.stats.requests += 1
        key = document.path or UNTITLED
        self.stop_warming()  # a real request outranks filling the cache ahead
        if supersede and key in self._inflight:
            self.cancel(key)
        if use_cache and (hit := self.cached(document, position)) is not None:
            self.stats.typed_ahead_hits += 1
            return _with_latency(hit, time.perf_counter() - started)
        new_place = self._new_place(key, position)
        # Only the first request at a new place is quick, with the calls that follow it at
        # once (the candidates of one invoked request). Later requests there use the full
        # window, whose prompt the warm-up has been evaluating meanwhile: alternating two
        # windows would make every prompt miss the KV cache.
        same_burst = time.monotonic() - self._last_active < BURST_S
        quick = self.quick_first and (
            new_place or (same_burst and _near(self._quick_place, key, position)))
        self._quick_place = (key, position.line) if quick else None
        plan = await self.plan(
            document, position, mode=mode, use_context=use_context, max_tokens=max_tokens,
            quick=quick,
        )
        if quick and self.warms_after_quick:
            # The keystrokes that follow use the full window: evaluate it once this answer
            # is out (a background warm-up any real request cancels).
            self.start_warming(document, position)
        cache_key = PromptCache.key(plan.prompt, plan.request.max_tokens, plan.request.stop,
                                    plan.mode.value, plan.language, early_stop)
        deterministic = plan.request.temperature <= 0
        if use_cache and deterministic and (saved := self.prompt_cache.get(cache_key)):
            self.stats.prompt_cache_hits += 1
            completion = Completion(
                text=saved.text, range=Range(position, position), mode=plan.mode,
                raw=saved.raw, latency_s=time.perf_counter() - started, cached=True,
                finish_reason=saved.finish_reason,
            )
            self._remember(document, plan, completion)
            return completion

        flight = _Flight(asyncio.ensure_future(self._produce(
            plan, position, started, early_stop=early_stop, on_partial=on_partial)))
        if supersede:
            self._inflight[key] = flight
        try:
            text, raw, finish, usage = await asyncio.shield(flight.task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if flight.superseded and not (current is not None and current.cancelling()):
                self.stats.superseded += 1
                return Completion(text="", range=Range(position, position), mode=plan.mode,
                                  latency_s=time.perf_counter() - started,
                                  finish_reason="superseded")
            flight.task.cancel()  # our caller was cancelled: stop the generation too
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await flight.task
            raise
        finally:
            if self._inflight.get(key) is flight:
                del self._inflight[key]
        completion = Completion(
            text=text,
            range=Range(position, position),
            mode=plan.mode,
            raw=raw,
            latency_s=time.perf_counter() - started,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            finish_reason=finish,
        )
        self.stats.latencies_s.append(completion.latency_s)
        del self.stats.latencies_s[:-1000]
        self.stats.prompt_tokens += usage.prompt_tokens or 0
        self.stats.cached_prompt_tokens += usage.cached_prompt_tokens or 0
        if use_cache and deterministic:
            self.prompt_cache.put(cache_key, CachedResult(text, raw, finish))
            self._remember(document, plan, completion)
        return completion

    async def _produce(
        self,
        plan: PromptPlan,
        position: Position,
        started: float,
        *,
        early_stop: bool,
        on_partial: PartialCallback | None,
    ) -> tuple[str, str, str | None, Usage]:
        """Generate and post-process: (text, raw, finish reason, usage).

        When post-processing rejects everything the model wrote (it repeated the next line,
        or ended the function early, making the code after the cursor dead), up to
        ``completion.retries`` more completions are sampled (fixed seeds, so the result is
        reproducible) while the latency budget allows; the first acceptable one is kept.
        """
        cfg = self.config.completion
        raw, finish, usage = await self._generate(plan, position, early_stop=early_stop,
                                                  on_partial=on_partial)
        text = self._postprocess(plan, raw, finish)
        written = text if text.strip() else raw  # what the model meant, even if rejected
        if plan.at_block is not None and starts_shallower(written, plan.hole, plan.at_block.lead):
            # Top-level code inside a body: ask again with the cursor at the block's indentation.
            plan = plan.at_block
            raw, finish, usage = await self._generate(plan, position, early_stop=early_stop,
                                                      on_partial=on_partial)
            text = self._postprocess(plan, raw, finish)
        budget_s = cfg.latency_budget_ms / 1000
        for attempt in range(1, max(0, cfg.retries) + 1):
            if text.strip() or not raw.strip():
                break
            if budget_s > 0 and time.perf_counter() - started > budget_s:
                break
            self.stats.retries += 1
            request = dataclasses.replace(
                plan.request, temperature=max(cfg.temperature, RETRY_TEMPERATURE), seed=attempt)
            again = dataclasses.replace(plan, request=request)
            raw2, finish2, usage2 = await self._generate(again, position, early_stop=early_stop,
                                                         on_partial=None)
            text2 = self._postprocess(plan, raw2, finish2)
            if plan.at_block is not None and starts_shallower(text2, plan.hole,
                                                              plan.at_block.lead):
                continue  # a sample of top-level code inside a body is no better
            if text2.strip():
                self.stats.retry_successes += 1
                return text2, raw2, finish2, usage2
        return text, raw, finish, usage

    @staticmethod
    def _postprocess(plan: PromptPlan, raw: str, finish: str | None) -> str:
        text = postprocess(raw, prefix=plan.prefix, suffix=plan.suffix, mode=plan.mode,
                           language=plan.language, truncated=finish == "length")
        return plan.lead + text if text.strip() else text

    def _remember(self, document: Document, plan: PromptPlan, completion: Completion) -> None:
        self.typed_ahead.remember(document.path or UNTITLED, document.text, plan.offset,
                                  completion.text, plan.mode.value)

    async def _generate(
        self,
        plan: PromptPlan,
        position: Position,
        *,
        early_stop: bool,
        on_partial: PartialCallback | None,
    ) -> tuple[str, str | None, Usage]:
        """Stream the plan's request; returns (raw text, finish reason, usage).

        Closing the stream (early stop, deadline, cancellation) cancels the generation in the
        backend. A stream ended here reports ``finish_reason`` ``early`` or ``deadline`` and
        a usage with the chunks counted as tokens.
        """
        self.stats.model_calls += 1
        hole = plan.hole
        stopper = StreamStopper(hole, plan.mode)
        budget_s = self.config.completion.latency_budget_ms / 1000
        started = time.perf_counter()
        first_at: float | None = None
        last_at = started
        parts: list[str] = []
        chunks = 0
        finish: str | None = None
        usage: Usage | None = None
        partial_sent = on_partial is None or plan.mode is CompletionMode.SINGLE_LINE
        stream = self.backend.stream(plan.request)
        try:
            async for chunk in stream:
                now = time.perf_counter()
                if chunk.text:
                    parts.append(chunk.text)
                    chunks += 1
                    first_at = first_at or now
                    last_at = now
                if chunk.finish_reason is not None:
                    finish = chunk.finish_reason
                if chunk.usage is not None:
                    usage = chunk.usage
                if finish is not None or not chunk.text:
                    continue
                text = "".join(parts)
                if not partial_sent and stopper.first_line_done(text):
                    partial_sent = True
                    self._send_partial(on_partial, plan, position, text)
                if early_stop and stopper.should_stop(text):
                    finish = "early"
                    self.stats.stopped_early += 1
                    break
                if (budget_s > 0 and now - started > budget_s
                        and stopper.first_line_done(text)):
                    finish = "deadline"
                    self.stats.deadline_stops += 1
                    break
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                await closer()
        raw = "".join(parts)
        ttft = (first_at - started) if first_at is not None else None
        decode_s = (last_at - first_at) if first_at is not None else None
        self.speed.record(plan.prompt, ttft, max(chunks - 1, 0), decode_s)
        if usage is None or usage.completion_tokens is None:
            # Closed before the final chunk: keep the prompt accounting the backend sent first
            # (if any) and count the streamed pieces as tokens.
            usage = dataclasses.replace(usage or Usage(), completion_tokens=chunks,
                                        time_to_first_token_s=ttft,
                                        total_s=time.perf_counter() - started)
        if usage.prompt_tokens is None:
            # A stream closed early (or a server without usage counts) reports no prompt
            # size; callers such as `complete --json` still show one.
            usage = dataclasses.replace(usage, prompt_tokens=self.count_tokens(plan.prompt))
        return raw, finish, usage

    def _send_partial(self, callback: PartialCallback | None, plan: PromptPlan,
                      position: Position, text: str) -> None:
        if callback is None:
            return
        first = StreamStopper(plan.hole, plan.mode).whole_lines(text)
        line = next((ln for ln in first if ln.strip()), "")
        shown = postprocess(line, prefix=plan.prefix, suffix=plan.suffix,
                            mode=CompletionMode.SINGLE_LINE, language=plan.language)
        if not shown or (plan.at_block is not None
                         and starts_shallower(shown, plan.hole, plan.at_block.lead)):
            return  # nothing, or a line that will be asked for again at the block's indentation
        try:
            callback(Completion(text=plan.lead + shown, range=Range(position, position),
                                mode=plan.mode, raw=text, finish_reason="partial"))
        except Exception:  # a surface's callback must not break the generation
            log.exception("on_partial callback failed")


def _near(place: tuple[str, int] | None, key: str, position: Position) -> bool:
    """Whether ``position`` of document ``key`` is within :data:`NEAR_LINES` of ``place``."""
    return place is not None and place[0] == key and abs(place[1] - position.line) <= NEAR_LINES


def _with_latency(completion: Completion, latency_s: float) -> Completion:
    return Completion(
        text=completion.text, range=completion.range, mode=completion.mode,
        raw=completion.raw, latency_s=latency_s, cached=completion.cached,
        finish_reason=completion.finish_reason,
    )


def position_after(document: Document, position: Position, typed: str) -> Position:
    """Where the cursor is after ``typed`` is inserted at ``position`` (for callers of the
    typed-ahead cache)."""
    offset = offset_of(document.text, position)
    return position_at(document.text[:offset] + typed, offset + len(typed))


def config_for_use(config: Config, *, automatic: bool) -> Config:
    """The config whose ``model`` should serve a completion request.

    Automatic completions (while typing) use ``completion.fast_model`` when it is set, so a
    small fast model can answer keystrokes while the top-level ``model`` (a stronger one)
    answers completions the user asks for, generation and refactors. The returned config is
    ``config`` itself when nothing changes.
    """
    fast = config.completion.fast_model.strip()
    if not automatic or not fast or fast == config.model:
        return config
    return dataclasses.replace(config, model=fast)
