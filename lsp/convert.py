"""Protocol positions <-> core positions.

LSP positions count lines split at ``\\n``, ``\\r\\n`` or ``\\r`` and columns in the negotiated
encoding's code units (UTF-16 unless the client offered something else). The core counts lines
split at ``\\n`` and columns in code points. Every conversion goes through a ``str`` offset so
both views agree on any text. Out-of-range positions raise :class:`InvalidPosition` instead of
being clamped silently: a stale position must not produce an edit in the wrong place. In
particular a cursor on the line after the last (``line == line_count``) is refused: an item
answered there would have a range that ends outside the document.
"""

from __future__ import annotations

import bisect
import re

from lsprotocol import types as lsp

from codeslm.documents import position_at
from codeslm.types import Position, Range

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class InvalidPosition(ValueError):
    """A position outside the document (line past the end, column past the line's end)."""


def _units(char: str, encoding: str) -> int:
    code = ord(char)
    if encoding == "utf-8":
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    if encoding == "utf-32":
        return 1
    return 2 if code > 0xFFFF else 1


def units_len(text: str, encoding: str = "utf-16") -> int:
    """Length of ``text`` in code units of ``encoding``."""
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-16":
        return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
    return len(text.encode("utf-8"))


class LineIndex:
    """Line starts of a text by LSP rules; converts positions and offsets."""

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.text = text
        self.encoding = encoding
        self.starts = [0]
        self._ends: list[int] = []  # end of each line's content (before its line break)
        for match in _LINE_BREAK.finditer(text):
            self._ends.append(match.start())
            self.starts.append(match.end())
        self._ends.append(len(text))

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def line(self, n: int) -> str:
        return self.text[self.starts[n] : self._ends[n]]

    def offset(self, position: lsp.Position, *, clamp_column: bool = False) -> int:
        """The ``str`` offset of an LSP position; InvalidPosition when outside the text.

        ``clamp_column`` is for the ends of ranges (the spec lets clients write them loosely):
        a column past the line's end means the end of the line, and the line after the last
        with column 0 means the end of the text ("to the end of the document"). Without it (a
        cursor) both raise: the cursor is always on a line of the document.
        """
        line, column = position.line, position.character
        if line < 0 or column < 0:
            raise InvalidPosition(f"negative position {line}:{column}")
        if line >= self.line_count:
            if clamp_column and line == self.line_count and column == 0:
                return len(self.text)
            raise InvalidPosition(
                f"line {line} is past the end of the document ({self.line_count} lines)"
            )
        content = self.line(line)
        if self.encoding == "utf-32" or content.isascii():
            if column > len(content):
                if clamp_column:
                    return self.starts[line] + len(content)
                raise InvalidPosition(
                    f"column {column} is past the end of line {line} ({len(content)} long)"
                )
            return self.starts[line] + column
        units = 0
        for i, ch in enumerate(content):
            if units >= column:
                if units > column:
                    raise InvalidPosition(f"column {column} splits a character on line {line}")
                return self.starts[line] + i
            units += _units(ch, self.encoding)
        if units == column or clamp_column:
            return self.starts[line] + len(content)
        raise InvalidPosition(f"column {column} is past the end of line {line} ({units} long)")

    def position(self, offset: int) -> lsp.Position:
        """The LSP position of a ``str`` offset (clamped into the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        offset = min(offset, self._ends[line])  # inside a \r\n pair: the end of the line
        return lsp.Position(line=line, character=units_len(self.text[start:offset], self.encoding))

    def range_offsets(self, rng: lsp.Range) -> tuple[int, int]:
        """Offsets of an LSP range (columns past a line's end mean its end); start <= end."""
        start = self.offset(rng.start, clamp_column=True)
        end = self.offset(rng.end, clamp_column=True)
        return (start, end) if start <= end else (end, start)

    # -- core values --------------------------------------------------------------------

    def to_core(self, position: lsp.Position) -> Position:
        """The core position (``\\n`` lines, code point column) of an LSP position."""
        return position_at(self.text, self.offset(position))

    def core_range(self, rng: lsp.Range) -> Range:
        start, end = self.range_offsets(rng)
        return Range(position_at(self.text, start), position_at(self.text, end))

    def from_core(self, position: Position) -> lsp.Position:
        """The LSP position of a core position (which must lie inside the text)."""
        from codeslm.documents import offset_of

        return self.position(offset_of(self.text, position))

    def lsp_range(self, rng: Range) -> lsp.Range:
        return lsp.Range(start=self.from_core(rng.start), end=self.from_core(rng.end))
