"""Brackets the completion opened and did not close."""

from __future__ import annotations

_PAIRS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}


def unclosed(text: str) -> str:
    """The closers that would balance the brackets ``text`` opens, innermost first.

    Quoted strings are skipped; a closer without an opener in ``text`` is ignored (it closes
    something the prefix opened).
    """
    stack: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote or (ch == "\n" and quote != "`"):
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in _PAIRS:
            stack.append(_PAIRS[ch])
        elif ch in _CLOSERS and stack and stack[-1] == ch:
            stack.pop()
        i += 1
    return "".join(reversed(stack))
