"""Brackets the completion opened and did not close."""

from __future__ import annotations

import keyword
import re

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


# A call the model spreads over lines is joined back only within these limits: longer ones
# read better as the model wrote them, and are left to a multi-line completion.
MAX_JOINED_LINES = 8
MAX_JOINED_COLUMNS = 100
_COMMENT_STARTS = ("#", "//")
_MULTILINE_QUOTES = ("`", '"""', "'''")
# Words before ``(`` that make it a tuple or a group, not a call (``in (a,)``).
_NOT_CALLEES = frozenset(keyword.kwlist)


def closing_line(text: str) -> int | None:
    """The index of the line of ``text`` that closes every bracket its first line left open
    (0 when the first line closes its own), or None when no line within ``MAX_JOINED_LINES``
    does so (yet)."""
    lines = text.split("\n")
    for k in range(min(len(lines), MAX_JOINED_LINES + 1)):
        if not unclosed("\n".join(lines[: k + 1])):
            return k
    return None


def join_spread_call(text: str, lead: str = "") -> str | None:
    """The first line of ``text`` with the lines that close the brackets it opened joined onto
    it (``Agent(`` / ``name="a",`` / ``)`` -> ``Agent(name="a")``), or None when the first
    line closes its own brackets, the brackets stay open, a line holds a comment (joining
    would swallow the code after it) or a string that may span lines (a template literal, a
    triple-quoted string). A trailing comma before a closer is dropped except in a
    one-element tuple (``(a,)``); ``lead``, the line's text before the completion, tells a
    call's ``(`` (``parser.add_argument`` + ``(``) from a tuple's."""
    lines = text.split("\n")
    last = closing_line(text)
    if not last:
        return None
    parts = [lines[0].rstrip()] + [line.strip() for line in lines[1 : last + 1]]
    if any(part.startswith(_COMMENT_STARTS) or _has_comment(part) for part in parts[1:]):
        return None
    if any(q in part for part in parts for q in _MULTILINE_QUOTES):
        return None  # a string spanning the lines: joining would change its text
    joined = parts[0]
    for part in parts[1:]:
        if not part:
            continue
        glue = "" if joined[-1:] in "([{" or part[0] in ")]}" else " "
        joined += glue + part
    return _drop_trailing_commas(lead + joined, keep=len(lead))[len(lead):]


def _has_comment(line: str) -> bool:
    for i, ch in code_chars(line, newline_ends_strings=True):
        if ch == "#" or (ch == "/" and line[i + 1 : i + 2] == "/"):
            return True
    return False


def _drop_trailing_commas(line: str, keep: int = 0) -> str:
    """``f(a, b,)`` -> ``f(a, b)``, ``[a,]`` -> ``[a]``; ``(a,)`` (a tuple) is kept, and so is
    everything in the first ``keep`` characters."""
    openers: list[int] = []
    drop: set[int] = set()
    for i, ch in code_chars(line):
        if ch in _PAIRS:
            openers.append(i)
        elif ch in _CLOSERS and openers:
            start = openers.pop()
            j = i - 1
            while j > start and line[j] == " ":
                j -= 1
            if j > start and line[j] == ",":
                before = line[:start].rstrip()
                word = re.search(r"\w+$", before)
                is_call = before[-1:] in (")", "]") or (
                    word is not None and word.group() not in _NOT_CALLEES)
                if (ch != ")" or is_call) and j >= keep:
                    drop.add(j)
    return "".join(c for i, c in enumerate(line) if i not in drop)
