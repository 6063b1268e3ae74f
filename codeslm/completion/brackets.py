"""Brackets the completion opened and did not close."""

from __future__ import annotations

from .scan import code_chars

_PAIRS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}


def unclosed(text: str) -> str:
    """The closers that would balance the brackets ``text`` opens, innermost first.

    Quoted strings are skipped; a closer without an opener in ``text`` is ignored (it closes
    something the prefix opened).
    """
    stack: list[str] = []
    for _, ch in code_chars(text, newline_ends_strings=True):
        if ch in _PAIRS:
            stack.append(_PAIRS[ch])
        elif ch in _CLOSERS and stack and stack[-1] == ch:
            stack.pop()
    return "".join(reversed(stack))
