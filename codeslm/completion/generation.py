"""Running a planned completion: stream from the backend, stop when decided, post-process, retry.

:class:`Producer` streams a :class:`~codeslm.completion.plan.PromptPlan`'s request, ends the
stream as soon as the completion is decided (or the latency budget is spent at a whole line),
sends the first line of a multi-line completion early, and post-processes the text. When
post-processing rejects all the model wrote, it asks again at the block's indentation or
samples a few seeded retries within the budget. Given an instant to show something by, it
answers early with what the model has written by then and hands back the open stream
(:class:`~codeslm.completion.stream_run.StreamRun`) for the caller to finish in the background.
Cancellation (asyncio) closes the stream, which stops the generation in every backend.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from ..backends.base import Backend
from ..config import Config
from ..types import Position, Usage
from .blockindent import starts_shallower
from .deadline import ThroughputTracker
from .pipeline import postprocess
from .plan import PromptPlan
from .request import CompletionOptions, PartialCallback
from .shown_early import early_text
from .stats import CompletionStats
from .stream_run import StreamRun

log = logging.getLogger(__name__)

RETRY_TEMPERATURE = 0.7  # sampling temperature of retries after a rejected completion
# The finish reason of a suggestion shown while its generation goes on (StreamRun.rest).
CONTINUING = "continuing"

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
        self,
        plan: PromptPlan,
        position: Position,
        started: float,
        options: CompletionOptions,
        *,
        show_by: float | None = None,
    ) -> tuple[Produced, StreamRun | None]:
        """Generate and post-process: ((text, raw, finish reason, usage), open run).

        When post-processing rejects everything the model wrote (it repeated the next line,
        or ended the function early, making the code after the cursor dead), up to
        ``options.retries`` (default ``completion.retries``) more completions are sampled
        (fixed seeds, so the result is reproducible) while the latency budget allows; the
        first acceptable one is kept. A completion that needed more than one model call is
        logged (INFO).

        With ``show_by`` (a ``perf_counter`` instant), a first generation still running then
        with something acceptable to show is answered with that (finish reason
        :data:`CONTINUING`) and its open :class:`StreamRun` is returned: the caller finishes it
        (:meth:`StreamRun.rest`) or closes it. Otherwise the run is None."""
        produced, calls, run = await self._produce(plan, position, started, options, show_by)
        if calls > 1:  # rare, and each call adds a whole generation to the wait
            log.info(
                "completion at %d:%d took %d model calls in %.2f s (an answer was rejected)",
                position.line + 1,
                position.character + 1,
                calls,
                time.perf_counter() - started,
            )
        return produced, run

    async def _produce(
        self,
        plan: PromptPlan,
        position: Position,
        started: float,
        options: CompletionOptions,
        show_by: float | None,
    ) -> tuple[Produced, int, StreamRun | None]:
        """:meth:`produce`'s work and how many model calls it made (the first, the re-ask at
        the block's indentation, the retries)."""
        early_stop, on_partial = options.early_stop, options.on_partial
        calls = 1
        raw, finish, usage, run = await self.generate(
            plan, position, early_stop=early_stop, on_partial=on_partial, show_by=show_by
        )
        text = postprocess_plan(plan, raw, finish)
        if run is not None:
            if "\n" not in raw.strip("\n"):  # a line cut short
                text = early_text(text, plan.lead + raw.lstrip("\n")) or ""
            if text.strip() and not (
                plan.at_block is not None
                and starts_shallower(text, plan.hole, plan.at_block.lead)
            ):
                return (text, raw, finish, usage), calls, run
            raw, finish, usage = await run.rest()  # nothing to show early: wait for the end
            text = postprocess_plan(plan, raw, finish)
        written = text if text.strip() else raw  # what the model meant, even if rejected
        if plan.at_block is not None and starts_shallower(written, plan.hole, plan.at_block.lead):
            # Top-level code inside a body: ask again with the cursor at the block's indentation.
            plan = plan.at_block
            calls += 1
            raw, finish, usage, _ = await self.generate(
                plan, position, early_stop=early_stop, on_partial=on_partial
            )
            text = postprocess_plan(plan, raw, finish)
        produced, calls = await self._retry(
            plan, position, started, options, (text, raw, finish, usage), calls
        )
        return produced, calls, None

    async def _retry(
        self,
        plan: PromptPlan,
        position: Position,
        started: float,
        options: CompletionOptions,
        produced: Produced,
        calls: int,
    ) -> tuple[Produced, int]:
        """``produced``, or when post-processing rejected all of it, the first acceptable of
        the seeded retries made within the latency budget; with the model calls made."""
        cfg = self.config.completion
        text, raw = produced[0], produced[1]
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
            raw2, finish2, usage2, _ = await self.generate(
                again, position, early_stop=options.early_stop, on_partial=None
            )
            text2 = postprocess_plan(plan, raw2, finish2)
            if plan.at_block is not None and starts_shallower(text2, plan.hole, plan.at_block.lead):
                continue  # a sample of top-level code inside a body is no better
            if text2.strip():
                self.stats.retry_successes += 1
                return (text2, raw2, finish2, usage2), calls
        return produced, calls

    async def generate(
        self,
        plan: PromptPlan,
        position: Position,
        *,
        early_stop: bool,
        on_partial: PartialCallback | None,
        show_by: float | None = None,
    ) -> tuple[str, str | None, Usage, StreamRun | None]:
        """Stream the plan's request; returns (raw text, finish reason, usage, open run).

        Closing the stream (early stop, deadline, cancellation) cancels the generation in the
        backend. A stream ended here reports ``finish_reason`` ``early`` or ``deadline`` and
        a usage with the chunks counted as tokens. With ``show_by`` (a ``perf_counter``
        instant), a generation still running then with text to show (see
        :func:`~codeslm.completion.shown_early.early_raw`) is left open: the raw text is what
        can be shown of it, the finish reason ``continuing``, and the open :class:`StreamRun`
        is returned for the caller to finish (:meth:`StreamRun.rest`) or close.
        """
        self.stats.model_calls += 1
        run = StreamRun(self, plan, position, early_stop=early_stop, on_partial=on_partial)
        shown: str | None = None
        try:
            shown = await run.read(show_by)
        finally:
            if shown is None:
                await run.close()
        if shown is None:
            return run.raw, run.finish, run.usage(), None
        return shown, CONTINUING, run.usage(), run
