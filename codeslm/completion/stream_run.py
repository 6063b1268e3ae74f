"""Reading one backend stream for a planned completion (:class:`StreamRun`).

A run reads the stream until the completion is decided (the stream stopper, the latency
budget at a whole line, the end of the stream) or, when asked, until a set instant has passed
with something to show: then the stream stays open, so that the generation can go on in the
background (:meth:`StreamRun.rest`) while the text so far is shown. Closing the run closes the
stream, which cancels the generation in every backend.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Protocol

from ..backends.base import Backend
from ..config import Config
from ..types import Completion, CompletionMode, Position, Range, Usage
from .blockindent import starts_shallower
from .deadline import ThroughputTracker
from .pipeline import postprocess
from .plan import PromptPlan
from .request import PartialCallback
from .shown_early import early_raw
from .stats import CompletionStats
from .stopping import StreamStopper

log = logging.getLogger(__name__)


class ProducerPort(Protocol):
    """What a run needs of its producer (:class:`codeslm.completion.generation.Producer`)."""

    backend: Backend
    config: Config
    stats: CompletionStats
    speed: ThroughputTracker
    count_tokens: Callable[[str], int]


class StreamRun:
    """One backend stream read for a plan: the text so far, the finish reason, the usage.

    :meth:`read` reads until the completion is decided (the stream stopper, the deadline at a
    whole line, the end of the stream) or, given ``show_by``, until that instant has passed
    with text to show; the stream then stays open and :meth:`rest` reads on where it stopped.
    :meth:`close` ends it (closing the stream cancels the generation in the backend); the
    producer's speed tracker is fed once, at the close.
    """

    def __init__(
        self,
        producer: ProducerPort,
        plan: PromptPlan,
        position: Position,
        *,
        early_stop: bool,
        on_partial: PartialCallback | None,
    ) -> None:
        self.producer = producer
        self.plan = plan
        self.position = position
        self.early_stop = early_stop
        self.on_partial = on_partial
        self.stopper = StreamStopper(plan.hole, plan.mode)
        self.budget_s = producer.config.completion.latency_budget_ms / 1000
        self.started = time.perf_counter()
        self.first_at: float | None = None
        self.last_at = self.started
        self.parts: list[str] = []
        self.chunks = 0
        self.finish: str | None = None
        self.backend_usage: Usage | None = None
        self._partial_sent = on_partial is None or plan.mode is CompletionMode.SINGLE_LINE
        self._stream = producer.backend.stream(plan.request)
        self._chunks = aiter(self._stream)
        self._closed = False

    @property
    def raw(self) -> str:
        return "".join(self.parts)

    async def read(self, show_by: float | None = None) -> str | None:
        """Read until the completion is decided (None), or until ``show_by`` has passed with
        text to show: then that text (see :func:`~.shown_early.early_raw`), the stream open."""
        stats = self.producer.stats
        while True:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return None
            now = time.perf_counter()
            if chunk.text:
                self.parts.append(chunk.text)
                self.chunks += 1
                self.first_at = self.first_at or now
                self.last_at = now
            if chunk.finish_reason is not None:
                self.finish = chunk.finish_reason
            if chunk.usage is not None:
                self.backend_usage = chunk.usage
            if self.finish is not None or not chunk.text:
                continue
            text = self.raw
            if not self._partial_sent and self.stopper.first_line_done(text):
                self._partial_sent = True
                send_partial(self.on_partial, self.plan, self.position, text)
            if self.early_stop and self.stopper.should_stop(text):
                self.finish = "early"
                stats.stopped_early += 1
                return None
            if self.budget_s > 0 and now - self.started > self.budget_s and \
                    self.stopper.first_line_done(text):
                self.finish = "deadline"
                stats.deadline_stops += 1
                return None
            if show_by is not None and now >= show_by:
                shown = early_raw(text, self.plan.mode, self.stopper.whole_lines(text))
                if shown is not None:
                    return shown

    async def rest(self) -> tuple[str, str | None, Usage]:
        """Read the generation to its end and close it: (raw text, finish reason, usage)."""
        try:
            await self.read()
        finally:
            await self.close()
        return self.raw, self.finish, self.usage()

    async def close(self) -> None:
        """Close the stream (once) and feed the producer's speed tracker."""
        if self._closed:
            return
        self._closed = True
        try:
            closer = getattr(self._stream, "aclose", None)
            if closer is not None:
                await closer()
        finally:
            ttft = (self.first_at - self.started) if self.first_at is not None else None
            decode_s = (self.last_at - self.first_at) if self.first_at is not None else None
            self._measure(self.plan, ttft, self.chunks, decode_s, self.backend_usage)

    def usage(self) -> Usage:
        """The usage so far (the backend's, or the chunks counted as tokens)."""
        ttft = (self.first_at - self.started) if self.first_at is not None else None
        return self._usage(self.backend_usage, self.plan, self.chunks, ttft, self.started)

    def _measure(
        self, plan: PromptPlan, ttft: float | None, chunks: int, decode_s: float | None,
        usage: Usage | None,
    ) -> None:
        """Feed the speed tracker: the deadline's speeds, and the time per prompt token the
        backend evaluated (not taken from its cache), which sizes the quick window."""
        self.producer.speed.record(plan.prompt, ttft, max(chunks - 1, 0), decode_s)
        if ttft is not None and usage is not None and usage.prompt_tokens is not None:
            evaluated = usage.prompt_tokens - (usage.cached_prompt_tokens or 0)
            self.producer.speed.record_prompt(evaluated, ttft)

    def _usage(
        self, usage: Usage | None, plan: PromptPlan, chunks: int, ttft: float | None, started: float
    ) -> Usage:
        if usage is None or usage.completion_tokens is None:
            # Closed before the final chunk: keep the prompt accounting the backend sent first
            # (if any) and count the streamed pieces as tokens.
            usage = dataclasses.replace(
                usage or Usage(),
                completion_tokens=chunks,
                time_to_first_token_s=ttft,
                total_s=time.perf_counter() - started,
            )
        if usage.prompt_tokens is None:
            # A stream closed early (or a server without usage counts) reports no prompt
            # size; callers such as `complete --json` still show one.
            tokens = self.producer.count_tokens(plan.prompt)
            usage = dataclasses.replace(usage, prompt_tokens=tokens)
        return usage


def send_partial(
    callback: PartialCallback | None, plan: PromptPlan, position: Position, text: str
) -> None:
    """Call ``callback`` with the post-processed first line of ``text`` (once it is whole)."""
    if callback is None:
        return
    first = StreamStopper(plan.hole, plan.mode).whole_lines(text)
    line = next((ln for ln in first if ln.strip()), "")
    shown = postprocess(
        line,
        prefix=plan.prefix,
        suffix=plan.suffix,
        mode=CompletionMode.SINGLE_LINE,
        language=plan.language,
    )
    if not shown or (
        plan.at_block is not None and starts_shallower(shown, plan.hole, plan.at_block.lead)
    ):
        return  # nothing, or a line that will be asked for again at the block's indentation
    try:
        callback(
            Completion(
                text=plan.lead + shown,
                range=Range(position, position),
                mode=plan.mode,
                raw=text,
                finish_reason="partial",
            )
        )
    except Exception:  # a surface's callback must not break the generation
        log.exception("on_partial callback failed")
