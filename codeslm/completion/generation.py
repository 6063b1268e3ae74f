"""Running a planned completion: stream from the backend, stop when decided, post-process, retry.

:class:`Producer` streams a :class:`~codeslm.completion.plan.PromptPlan`'s request, ends the
stream as soon as the completion is decided (or the latency budget is spent at a whole line),
sends the first line of a multi-line completion early, and post-processes the text. When
post-processing rejects all the model wrote, it asks again at the block's indentation or
samples a few seeded retries within the budget. Cancellation (asyncio) closes the stream, which
stops the generation in every backend.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from ..backends.base import Backend
from ..config import Config
from ..types import Completion, CompletionMode, Position, Range, Usage
from .blockindent import starts_shallower
from .deadline import ThroughputTracker
from .pipeline import postprocess
from .plan import PromptPlan
from .request import CompletionOptions, PartialCallback
from .stats import CompletionStats
from .stopping import StreamStopper

log = logging.getLogger(__name__)

RETRY_TEMPERATURE = 0.7  # sampling temperature of retries after a rejected completion

Produced = tuple[str, str, str | None, Usage]  # (text, raw, finish reason, usage)


def postprocess_plan(plan: PromptPlan, raw: str, finish: str | None) -> str:
    """The completion to show for ``raw`` written at ``plan``'s cursor (with its lead)."""
    text = postprocess(
        raw,
        prefix=plan.prefix,
        suffix=plan.suffix,
        mode=plan.mode,
        language=plan.language,
        truncated=finish == "length",
    )
    return plan.lead + text if text.strip() else text


class Producer:
    """Model calls for planned completions; counts into ``stats``, measures into ``speed``."""

    def __init__(
        self,
        backend: Backend,
        config: Config,
        stats: CompletionStats,
        speed: ThroughputTracker,
        count_tokens: Callable[[str], int],
    ) -> None:
        self.backend = backend
        self.config = config
        self.stats = stats
        self.speed = speed
        self.count_tokens = count_tokens

    async def produce(
        self, plan: PromptPlan, position: Position, started: float, options: CompletionOptions
    ) -> Produced:
        """Generate and post-process: (text, raw, finish reason, usage).

        When post-processing rejects everything the model wrote (it repeated the next line,
        or ended the function early, making the code after the cursor dead), up to
        ``options.retries`` (default ``completion.retries``) more completions are sampled
        (fixed seeds, so the result is reproducible) while the latency budget allows; the
        first acceptable one is kept. A completion that needed more than one model call is
        logged (INFO)."""
        produced, calls = await self._produce(plan, position, started, options)
        if calls > 1:  # rare, and each call adds a whole generation to the wait
            log.info(
                "completion at %d:%d took %d model calls in %.2f s (an answer was rejected)",
                position.line + 1,
                position.character + 1,
                calls,
                time.perf_counter() - started,
            )
        return produced

    async def _produce(
        self,
        plan: PromptPlan,
        position: Position,
        started: float,
        options: CompletionOptions,
    ) -> tuple[Produced, int]:
        """:meth:`produce`'s work and how many model calls it made (the first, the re-ask at
        the block's indentation, the retries)."""
        cfg = self.config.completion
        early_stop, on_partial = options.early_stop, options.on_partial
        calls = 1
        raw, finish, usage = await self.generate(
            plan, position, early_stop=early_stop, on_partial=on_partial
        )
        text = postprocess_plan(plan, raw, finish)
        written = text if text.strip() else raw  # what the model meant, even if rejected
        if plan.at_block is not None and starts_shallower(written, plan.hole, plan.at_block.lead):
            # Top-level code inside a body: ask again with the cursor at the block's indentation.
            plan = plan.at_block
            calls += 1
            raw, finish, usage = await self.generate(
                plan, position, early_stop=early_stop, on_partial=on_partial
            )
            text = postprocess_plan(plan, raw, finish)
        budget_s = cfg.latency_budget_ms / 1000
        retries = cfg.retries if options.retries is None else options.retries
        for attempt in range(1, max(0, retries) + 1):
            if text.strip() or not raw.strip():
                break
            if budget_s > 0 and time.perf_counter() - started > budget_s:
                break
            self.stats.retries += 1
            calls += 1
            request = dataclasses.replace(
                plan.request,
                temperature=max(plan.request.temperature, RETRY_TEMPERATURE),
                seed=attempt,
            )
            again = dataclasses.replace(plan, request=request)
            raw2, finish2, usage2 = await self.generate(
                again, position, early_stop=early_stop, on_partial=None
            )
            text2 = postprocess_plan(plan, raw2, finish2)
            if plan.at_block is not None and starts_shallower(text2, plan.hole, plan.at_block.lead):
                continue  # a sample of top-level code inside a body is no better
            if text2.strip():
                self.stats.retry_successes += 1
                return (text2, raw2, finish2, usage2), calls
        return (text, raw, finish, usage), calls

    async def generate(
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
        stopper = StreamStopper(plan.hole, plan.mode)
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
                    send_partial(on_partial, plan, position, text)
                if early_stop and stopper.should_stop(text):
                    finish = "early"
                    self.stats.stopped_early += 1
                    break
                if budget_s > 0 and now - started > budget_s and stopper.first_line_done(text):
                    finish = "deadline"
                    self.stats.deadline_stops += 1
                    break
        finally:
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                await closer()
        ttft = (first_at - started) if first_at is not None else None
        decode_s = (last_at - first_at) if first_at is not None else None
        self._measure(plan, ttft, chunks, decode_s, usage)
        return "".join(parts), finish, self._usage(usage, plan, chunks, ttft, started)

    def _measure(
        self,
        plan: PromptPlan,
        ttft: float | None,
        chunks: int,
        decode_s: float | None,
        usage: Usage | None,
    ) -> None:
        """Feed the speed tracker: the deadline's speeds, and the time per prompt token the
        backend evaluated (not taken from its cache), which sizes the quick window."""
        self.speed.record(plan.prompt, ttft, max(chunks - 1, 0), decode_s)
        if ttft is not None and usage is not None and usage.prompt_tokens is not None:
            evaluated = usage.prompt_tokens - (usage.cached_prompt_tokens or 0)
            self.speed.record_prompt(evaluated, ttft)

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
            usage = dataclasses.replace(usage, prompt_tokens=self.count_tokens(plan.prompt))
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
