"""Instruction-following code generation (``codeslm gen``) and extracting code from answers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from .backends.base import Backend
from .config import Config
from .errors import InputError
from .templates import load_template
from .types import ChatMessage, GenerationRequest, Usage

_FENCE = re.compile(r"^\s*(```|~~~)")


def build_messages(
    instruction: str, *, language: str, context: str = ""
) -> tuple[ChatMessage, ...]:
    """Messages for ``codeslm gen``; ``context`` (e.g. piped stdin) is shown before the ask."""
    if not instruction.strip():
        raise InputError("the instruction is empty", hint='e.g. codeslm gen "parse a CSV file"')
    context_block = f"Context:\n```\n{context.rstrip()}\n```\n\n" if context.strip() else ""
    # ``context`` is piped in by the user and may hold secrets: callers pass it through
    # :func:`codeslm.redaction.redact_restorable` first (``codeslm gen`` does).
    return load_template("gen").render(
        instruction=instruction.strip(), language=language, context=context_block
    )


@dataclass(slots=True)
class GenerationStats:
    """Filled in while streaming: usage and finish reason of the generation."""

    usage: Usage | None = None
    finish_reason: str | None = None


async def stream_generation(
    backend: Backend,
    messages: tuple[ChatMessage, ...],
    config: Config,
    stats: GenerationStats | None = None,
) -> AsyncIterator[str]:
    """Stream the model's answer text for ``messages``."""
    request = GenerationRequest(
        messages=messages, max_tokens=config.gen.max_tokens, temperature=config.gen.temperature
    )
    async for chunk in backend.stream(request):
        if chunk.text:
            yield chunk.text
        if stats is not None and chunk.finish_reason is not None:
            stats.finish_reason = chunk.finish_reason
            stats.usage = chunk.usage


def extract_code(text: str) -> str:
    """The body of the first fenced code block of ``text``; all of ``text`` if it has none.

    An unclosed fence (the answer was cut off) yields everything after it.
    """
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if _FENCE.match(line)), None)
    if start is None:
        return text.strip("\n") + "\n" if text.strip() else ""
    body: list[str] = []
    for line in lines[start + 1 :]:
        if _FENCE.match(line):
            break
        body.append(line)
    code = "".join(body)
    return code if code.endswith("\n") or not code else code + "\n"


class CodeExtractor:
    """Incremental :func:`extract_code`: feed streamed text, get code lines as they settle.

    ``feed`` returns code that is certain to be part of the first fenced block; ``finish``
    returns the rest (or the whole text when no fence ever appeared).
    """

    def __init__(self) -> None:
        self._pending = ""
        self._state = "before"  # before -> inside -> after
        self._seen: list[str] = []

    def feed(self, text: str) -> str:
        self._pending += text
        out: list[str] = []
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            out.append(self._line(line + "\n"))
        return "".join(out)

    def _line(self, line: str) -> str:
        self._seen.append(line)
        if self._state == "before":
            if _FENCE.match(line):
                self._state = "inside"
            return ""
        if self._state == "inside":
            if _FENCE.match(line):
                self._state = "after"
                return ""
            return line
        return ""

    def finish(self) -> str:
        tail = self._pending
        self._pending = ""
        if self._state == "before":
            text = "".join(self._seen) + tail
            return text.strip("\n") + "\n" if text.strip() else ""
        if self._state == "inside" and tail and not _FENCE.match(tail):
            return tail + "\n"
        return ""
