"""Where a shown completion leads: the place a follow-up completion is made for ahead of time.

A user who takes a suggestion at the end of a line (accepting it, or typing it through) usually
presses Enter next, and the editor indents the new line. Completing that place in the
background while the user types the suggestion through means the next line's suggestion is
waiting when they get there; llama.vim makes a similar speculative follow-up request. The
engine starts one only once the user types into a suggestion (most fresh suggestions are
typed over, and a follow-up for one of those would only take the CPU from the next request).

:func:`follow_place` predicts the document and cursor after the suggestion and Enter. The
indentation is the editor's auto-indent as most editors do it for the language: the accepted
line's, one level deeper after a line that opens a block (``:`` in Python, an opening bracket
elsewhere), one level shallower after a line that ends one (``return``, ``pass``...) in
Python. A wrong guess costs nothing but the background work: the follow-up is remembered for
the predicted text only (:class:`~codeslm.completion.cache.TypedAheadCache`), so a document that
differs by one character never gets it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Python statements after which the next line is one level shallower.
_PY_DEDENT = re.compile(r"^\s*(return|pass|raise|break|continue)\b")
_OPENERS = ("{", "(", "[")


@dataclass(frozen=True, slots=True)
class FollowPlace:
    """The predicted document text and the cursor's offset in it."""

    text: str
    offset: int


def follow_place(
    text: str, offset: int, shown: str, language: str | None, unit: str = "    "
) -> FollowPlace | None:
    """The document after inserting ``shown`` at ``offset`` of ``text`` and pressing Enter, with
    the cursor at the new line's indentation.

    None when there is no clear next place: a suggestion of nothing but whitespace, or text
    after the cursor on its line (Enter would split that line, and editors differ on how).
    ``unit`` is one level of indentation.
    """
    if not shown.strip():
        return None
    line_end = text.find("\n", offset)
    if text[offset : len(text) if line_end < 0 else line_end] != "":
        return None
    line_start = text.rfind("\n", 0, offset) + 1
    accepted = (text[line_start:offset] + shown).rsplit("\n", 1)[-1]
    indent = next_indent(accepted, language, unit)
    inserted = shown + "\n" + indent
    return FollowPlace(text[:offset] + inserted + text[offset:], offset + len(inserted))


def next_indent(line: str, language: str | None, unit: str = "    ") -> str:
    """The indentation an auto-indenting editor gives the line after ``line``."""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    code = line.rstrip()
    if language == "python":
        if code.endswith(":") or code.endswith(_OPENERS):
            return indent + unit
        if _PY_DEDENT.match(code):
            return indent[: max(0, len(indent) - len(unit))]
        return indent
    if code.endswith(_OPENERS):
        return indent + unit
    return indent
