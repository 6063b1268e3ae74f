"""Several distinct completions at one cursor, for when the user asks explicitly.

The first candidate is the engine's normal completion. More come cheapest-first: the first line
of a multi-line completion (no model call) or a multi-line completion after a single-line one,
then sampled completions at a moderate temperature. Duplicates and empty texts are dropped, so
fewer than ``n`` may come back.

With a time budget (the language server's ``lsp.candidates_budget_ms``) an alternative is started
only when the request is likely to stay within it (the first candidate always comes): at a new
place on a slow CPU the first suggestion then comes as soon as it is ready, not after two more
generations.

Every call goes through the one engine (sampled ones with a ``temperature`` option), so all of
them send the same prompt window at the place and share its KV cache, and none starts a warm-up
of its own while the others run.
"""

from __future__ import annotations

import dataclasses
import time

from .completion.request import DEFAULT_OPTIONS, CompletionOptions, Cursor
from .engine import CompletionEngine
from .types import Completion, CompletionMode, Document, Position

SAMPLING_TEMPERATURE = 0.6


def _first_line(completion: Completion) -> Completion | None:
    text = completion.text
    if "\n" not in text.strip("\n"):
        return None
    first = text.lstrip("\n").split("\n", 1)[0]
    if not first.strip():
        return None
    return dataclasses.replace(completion, text=first, mode=CompletionMode.SINGLE_LINE)


class CandidateGenerator:
    """Makes up to ``n`` candidates with an engine."""

    def __init__(self, engine: CompletionEngine) -> None:
        self.engine = engine

    async def candidates(
        self,
        document: Document,
        at: Position | Cursor,
        n: int,
        options: CompletionOptions = DEFAULT_OPTIONS,
        *,
        budget_s: float | None = None,
    ) -> list[Completion]:
        """Up to ``n`` distinct non-empty completions, best first (``options`` are the first
        candidate's; the others vary its mode and temperature). With ``budget_s``, an
        alternative is started only while the call is likely to end within that many seconds
        (see :meth:`alternative_cost`)."""
        started = time.monotonic()
        cursor = at if isinstance(at, Cursor) else Cursor.at(document.text, at)
        first = await self.engine.complete(document, cursor, options)
        found: list[Completion] = []

        def fits() -> bool:
            if budget_s is None:
                return True
            return time.monotonic() - started + self.alternative_cost(first) <= budget_s

        def add(candidate: Completion | None) -> None:
            if candidate is None or not candidate.text.strip() or len(found) >= n:
                return
            if all(c.text != candidate.text for c in found):
                found.append(candidate)

        add(first)
        if n <= 1:
            return found
        add(_first_line(first))  # covers the single-line alternative of a multi-line answer
        if (
            len(found) < n
            and options.mode is CompletionMode.AUTO
            and (first.mode is CompletionMode.SINGLE_LINE)
            and fits()
        ):
            multi = dataclasses.replace(options, mode=CompletionMode.MULTI_LINE, follow=False)
            add(await self.engine.complete(document, cursor, multi))
        temperature = max(self.engine.config.completion.temperature, SAMPLING_TEMPERATURE)
        # Sampled answers are neither cached nor remembered: no cache can hold one.
        sampled = dataclasses.replace(
            options, mode=first.mode, temperature=temperature, use_cache=False, on_partial=None,
            follow=False,  # the first answer's follow-up stands: alternatives are less likely
        )
        tries = 0
        while len(found) < n and tries < n - 1 and fits():  # bounded: sampling may repeat
            tries += 1
            add(await self.engine.complete(document, cursor, sampled))
        return found

    def alternative_cost(self, first: Completion) -> float:
        """Seconds one more candidate at the same place is likely to take: its prompt is
        cached, so the backend's measured per-request latency plus decoding as many tokens as
        the first (at least 8); as long as the first took when no speed is measured yet."""
        speed = self.engine.speed
        if not speed.decode_tokens_per_s:
            return first.latency_s
        tokens = max(first.completion_tokens or 0, 8)
        return speed.base_latency_s + tokens / speed.decode_tokens_per_s
