"""Turn raw model output into a completion worth showing (compatibility entry point).

The rules live in :mod:`codeslm.completion`; this module keeps the original function names.
"""

from __future__ import annotations

from .completion import Hole
from .completion import decide_mode as _decide_mode
from .completion import postprocess as _postprocess
from .completion.suffix import trim_line_overlap
from .types import CompletionMode


def split_line(prefix: str, suffix: str) -> tuple[str, str]:
    """The text of the cursor's line before and after the cursor."""
    hole = Hole(prefix, suffix)
    return hole.before, hole.after


def decide_mode(prefix: str, suffix: str, language: str | None = None) -> CompletionMode:
    """Single line or multi-line from the code around the cursor (see codeslm.completion.mode)."""
    return _decide_mode(Hole(prefix, suffix, language))


def trim_line_suffix_overlap(text: str, line_after: str) -> str:
    """Drop a tail of ``text`` that repeats the start of the rest of the cursor's line."""
    return trim_line_overlap(text, line_after)


def postprocess(
    raw: str, *, prefix: str, suffix: str, mode: CompletionMode, language: str | None = None,
    truncated: bool = False,
) -> str:
    """See :func:`codeslm.completion.postprocess`."""
    return _postprocess(raw, prefix=prefix, suffix=suffix, mode=mode, language=language,
                        truncated=truncated)


__all__ = ["decide_mode", "postprocess", "split_line", "trim_line_suffix_overlap"]
