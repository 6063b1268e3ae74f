"""Drop what the completion repeats of the code after the cursor (users' complaint #2).

Two places a model repeats the suffix: at the end of the cursor's own line (``foo(x|)`` with
the model writing ``a)``), and as whole lines (the model finishes the middle, then goes on to
write the next lines, which are already there). These functions only propose cuts; the
pipeline validates cuts of low-information lines (a lone ``}``) with the parser.
"""

from __future__ import annotations

from .hole import Hole, is_closer_line
from .scan import code_chars

_CLOSING = {")": "(", "]": "[", "}": "{"}


def unmatched_closers(text: str) -> int:
    """How many closing brackets of ``text`` have no opener inside ``text`` (strings ignored)."""
    depth = 0
    unmatched = 0
    for _, ch in code_chars(text):
        if ch in "([{":
            depth += 1
        elif ch in _CLOSING:
            if depth:
                depth -= 1
            else:
                unmatched += 1
    return unmatched


def line_overlap(text: str, after: str) -> int:
    """Length of the longest tail of ``text`` that repeats the start of ``after``.

    ``after`` is the rest of the cursor's line. A repeated part that holds closing brackets is
    an overlap only when the completion did not open them itself (``a)`` before ``):``
    overlaps by one; ``f(x)`` before ``)`` does not); a repeat of the whole rest of the line
    without brackets (``x = 1`` before ``= 1``) always is.
    """
    rest = after.strip()
    if not rest:
        return 0
    body = text.rstrip()
    if not body:
        return 0
    closers = unmatched_closers(rest)
    if body.endswith(rest) and unmatched_closers(body) >= closers and (
            len(body) > len(rest) or closers):
        return len(text) - (len(body) - len(rest))
    for k in range(min(len(rest) - 1, len(body)), 0, -1):
        tail = rest[:k]
        if body.endswith(tail) and unmatched_closers(body) >= unmatched_closers(tail) > 0:
            return len(text) - (len(body) - k)
    return 0


def trim_line_overlap(text: str, after: str) -> str:
    """``text`` without the tail that repeats the rest of the cursor's line."""
    k = line_overlap(text, after)
    return text[: len(text) - k].rstrip(" \t") if k else text


def _distinctive(line: str) -> bool:
    """A line specific enough that seeing it twice means repetition (not ``}`` or ``else:``)."""
    s = line.strip()
    return len(s) >= 6 and not is_closer_line(s)


def anchor_cut(lines: list[str], hole: Hole) -> tuple[int, bool] | None:
    """Where the completion's lines start repeating the lines after the cursor.

    Returns ``(index, certain)``: keep ``lines[:index]``. ``certain`` is False for a match on
    a low-information line (a closing bracket, ``else:``) that the caller should confirm with
    the parser; None when nothing repeats. A line matches when it equals (up to trailing
    whitespace) the first non-blank line after the cursor's line; a match on a short line is
    certain only when the next lines repeat the suffix too.
    """
    following = hole.next_lines
    if not following:
        return None
    anchor = following[0].rstrip()
    first = 0 if hole.at_line_start else 1
    for i in range(first, len(lines)):
        line = (hole.before + lines[0]) if i == 0 else lines[i]
        if line.rstrip() != anchor:
            continue
        if _distinctive(anchor):
            return i, True
        rest = [ln for ln in lines[i + 1 :] if ln.strip()]
        matched = 1
        for got, want in zip(rest, following[1:], strict=False):
            if got.rstrip() != want.rstrip():
                break
            matched += 1
        certain = matched >= 3 or any(_distinctive(w) for w in following[1:matched])
        return i, certain
    return None


def cut_at_suffix_lines(text: str, hole: Hole) -> str:
    """``text`` cut where it starts repeating the suffix's lines (certain matches only)."""
    lines = text.split("\n")
    found = anchor_cut(lines, hole)
    if found is None or not found[1]:
        return text
    return "\n".join(lines[: found[0]]).rstrip()
