"""Several distinct completions at one cursor, for when the user asks explicitly.

The first candidate is the engine's normal completion. More come cheapest-first: the first line
of a multi-line completion (no model call) or a multi-line completion after a single-line one,
then sampled completions at a moderate temperature. Duplicates and empty texts are dropped, so
fewer than ``n`` may come back.
"""

from __future__ import annotations

import dataclasses

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
    """Makes up to ``n`` candidates with an engine (and a sampling twin of it, made lazily)."""

    def __init__(self, engine: CompletionEngine) -> None:
        self.engine = engine
        self._sampler: CompletionEngine | None = None

    def _sampling_engine(self) -> CompletionEngine:
        if self._sampler is None:
            config = self.engine.config
            sampled = dataclasses.replace(
                config,
                completion=dataclasses.replace(
                    config.completion,
                    temperature=max(config.completion.temperature, SAMPLING_TEMPERATURE),
                ),
            )
            self._sampler = CompletionEngine(
                self.engine.backend, sampled, context_provider=self.engine.context_provider
            )
        return self._sampler

    async def candidates(
        self,
        document: Document,
        position: Position,
        n: int,
        *,
        mode: CompletionMode = CompletionMode.AUTO,
        use_context: bool = True,
    ) -> list[Completion]:
        """Up to ``n`` distinct non-empty completions, best first."""
        first = await self.engine.complete(document, position, mode=mode, use_context=use_context)
        found: list[Completion] = []

        def add(candidate: Completion | None) -> None:
            if candidate is None or not candidate.text.strip() or len(found) >= n:
                return
            if all(c.text != candidate.text for c in found):
                found.append(candidate)

        add(first)
        if n <= 1:
            return found
        add(_first_line(first))  # covers the single-line alternative of a multi-line answer
        if len(found) < n and mode is CompletionMode.AUTO and (
                first.mode is CompletionMode.SINGLE_LINE):
            add(await self.engine.complete(document, position, mode=CompletionMode.MULTI_LINE,
                                           use_context=use_context))
        tries = 0
        while len(found) < n and tries < n - 1:  # bounded: sampling may repeat itself
            tries += 1
            sampler = self._sampling_engine()
            sampler.follow(self.engine)  # the same window as the first candidate
            add(await sampler.complete(
                document, position, mode=first.mode, use_context=use_context))
        return found
