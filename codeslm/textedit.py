"""Minimal text edits: "this region now reads X" -> the smallest replacements that get there.

Refactors ask the model for a whole region (a function, a selection) but must hand the editor
a small edit, so that undo, cursors, marks and concurrent diagnostics outside the changed lines
survive. Pure functions; offsets are ``str`` indices (code points) and positions are core
:class:`~codeslm.types.Position` values (0-based line, code point column).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .documents import position_at
from .types import Range


@dataclass(frozen=True, slots=True)
class TextEdit:
    """Replace ``range`` of a document (positions of the *original* text) by ``new_text``."""

    range: Range
    new_text: str


@dataclass(frozen=True, slots=True)
class OffsetEdit:
    """Replace ``text[start:end]`` by ``new_text``."""

    start: int
    end: int
    new_text: str


def diff_offsets(old: str, new: str) -> list[OffsetEdit]:
    """Non-overlapping edits (offsets into ``old``, ascending) that turn ``old`` into ``new``.

    Lines are matched first (so a changed line does not drag unrelated lines with it), then
    every changed hunk is narrowed to the characters that really differ.
    """
    if old == new:
        return []
    old_lines = old.splitlines(keepends=True)
    new_lines = new.splitlines(keepends=True)
    starts = [0]
    for line in old_lines:
        starts.append(starts[-1] + len(line))
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    edits: list[OffsetEdit] = []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            continue
        edits.append(_narrow(old, starts[a0], starts[a1], "".join(new_lines[b0:b1])))
    return [e for e in edits if e.start != e.end or e.new_text]


def _narrow(old: str, start: int, end: int, replacement: str) -> OffsetEdit:
    """Shrink the replacement of ``old[start:end]`` by their common prefix and suffix."""
    original = old[start:end]
    head = 0
    limit = min(len(original), len(replacement))
    while head < limit and original[head] == replacement[head]:
        head += 1
    tail = 0
    limit -= head
    while tail < limit and original[-1 - tail] == replacement[-1 - tail]:
        tail += 1
    return OffsetEdit(start + head, end - tail, replacement[head : len(replacement) - tail])


def to_text_edits(text: str, edits: list[OffsetEdit]) -> list[TextEdit]:
    """Offset edits on ``text`` as position edits."""
    return [
        TextEdit(Range(position_at(text, e.start), position_at(text, e.end)), e.new_text)
        for e in edits
    ]


def region_edits(text: str, start: int, end: int, replacement: str) -> list[TextEdit]:
    """Minimal edits on ``text`` replacing ``text[start:end]`` by ``replacement``."""
    if not 0 <= start <= end <= len(text):
        raise ValueError(f"region {start}:{end} is outside a text of {len(text)} characters")
    region = diff_offsets(text[start:end], replacement)
    shifted = [OffsetEdit(e.start + start, e.end + start, e.new_text) for e in region]
    return to_text_edits(text, shifted)


def insertion(text: str, offset: int, new_text: str) -> list[TextEdit]:
    """One edit inserting ``new_text`` at ``offset`` of ``text``."""
    return region_edits(text, offset, offset, new_text)


def apply_offsets(text: str, edits: list[OffsetEdit]) -> str:
    """Apply non-overlapping offset edits (any order) to ``text``."""
    out = text
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        out = out[: e.start] + e.new_text + out[e.end :]
    return out


def apply_edits(text: str, edits: list[TextEdit]) -> str:
    """Apply non-overlapping position edits (all relative to ``text``)."""
    from .documents import offset_of

    return apply_offsets(
        text,
        [OffsetEdit(offset_of(text, e.range.start), offset_of(text, e.range.end), e.new_text)
         for e in edits],
    )
