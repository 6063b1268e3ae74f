"""Generating an action's answer: stream the model, stop once the action has what it takes."""

from __future__ import annotations

from collections.abc import Callable

from ..backends.base import Backend
from ..types import GenerationRequest
from .base import Action, RefactorPlan


async def generate_answer(
    backend: Backend,
    plan: RefactorPlan,
    *,
    action: Action | None = None,
    temperature: float = 0.0,
    max_tokens: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Stream the model's answer for ``plan``; stop as soon as ``action`` (by default the one
    that made the plan) says the answer is complete. ``on_progress`` gets the number of
    chunks received so far."""
    action = action or plan.action or Action()
    request = GenerationRequest(
        messages=plan.messages,
        max_tokens=min(max_tokens or plan.max_tokens, plan.max_tokens),
        temperature=temperature,
    )
    parts: list[str] = []
    stream = backend.stream(request)
    try:
        async for chunk in stream:
            if chunk.text:
                parts.append(chunk.text)
                if on_progress is not None:
                    on_progress(len(parts))
                if action.answer_complete(plan, "".join(parts)):
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return "".join(parts)
