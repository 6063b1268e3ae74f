"""The hole a completion fills: the text around the cursor and facts derived from it.

Every post-processing rule reads the same :class:`Hole`; building one is cheap (no parsing).
"""

from __future__ import annotations

import collections
import functools
import itertools
import re
from dataclasses import dataclass

from ..types import CompletionMode
from .scan import code_chars

# Lines that open a block whose body comes on the next lines.
_OPENER = re.compile(r"(:|\{|\(|\[|=>|->|\bdo|\bthen)\s*$")
_CLOSERS = ")]}"


def indentation(line: str) -> str:
    """The leading whitespace of ``line``."""
    return line[: len(line) - len(line.lstrip(" \t"))]


def width(indent: str, tab: int = 4) -> int:
    """Visual width of an indentation string (a tab counts ``tab`` columns)."""
    return sum(tab if ch == "\t" else 1 for ch in indent)


def opens_block(line: str, language: str | None = None) -> bool:
    """True when ``line`` ends with something that opens an indented body."""
    code = strip_line_comment(line, language).rstrip()
    return bool(code) and bool(_OPENER.search(code))


def strip_line_comment(line: str, language: str | None) -> str:
    """``line`` without a trailing line comment (a rough cut: ``#`` or ``//`` outside quotes)."""
    marker = "#" if language == "python" else "//"
    if marker not in line:
        return line
    for i, _ in code_chars(line):
        if line.startswith(marker, i):
            return line[:i]
    return line


def is_closer_line(line: str) -> bool:
    """A line that only closes brackets (``}``, ``});``, ``]``...)."""
    s = line.strip().rstrip(";,")
    return bool(s) and all(ch in _CLOSERS or ch in " \t;)," for ch in s)


@dataclass(frozen=True)
class Hole:
    """What surrounds the cursor.

    ``prefix`` and ``suffix`` are the document text before and after the cursor (possibly a
    window of it), ``language`` a tree-sitter language name or None.
    """

    prefix: str
    suffix: str
    language: str | None = None
    mode: CompletionMode = CompletionMode.MULTI_LINE

    @functools.cached_property
    def before(self) -> str:
        """The cursor line's text before the cursor."""
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @functools.cached_property
    def after(self) -> str:
        """The cursor line's text after the cursor (without the newline)."""
        newline = self.suffix.find("\n")
        rest = self.suffix if newline < 0 else self.suffix[:newline]
        return rest.rstrip("\r")

    @functools.cached_property
    def at_line_start(self) -> bool:
        """The cursor has only whitespace before it on its line."""
        return not self.before.strip()

    @functools.cached_property
    def previous_lines(self) -> list[str]:
        """Non-blank prefix lines before the cursor line, nearest last."""
        lines = self.prefix.split("\n")[:-1]
        return [line.rstrip("\r") for line in lines if line.strip()]

    @functools.cached_property
    def next_lines(self) -> list[str]:
        """Non-blank suffix lines after the cursor line, nearest first."""
        lines = self.suffix.split("\n")[1:]
        return [line.rstrip("\r") for line in lines if line.strip()]

    def below_continues(self, first_line: str) -> bool:
        """Whether the code after the cursor line continues it once ``first_line`` is typed
        there: the next line is indented deeper than the cursor line or closes a bracket
        (the cursor is on the first line of a call or literal already spread below)."""
        if not self.next_lines:
            return False
        below = self.next_lines[0]
        line = self.before + first_line
        return width(indentation(below)) > width(indentation(line)) or is_closer_line(below)

    @functools.cached_property
    def indent_unit(self) -> str:
        """The file's indentation step: a tab, or the most common step into a block (after a
        line that opens one) among nearby lines; four spaces when nothing tells."""
        lines = [*self.previous_lines[-80:], *self.next_lines[:20]]
        if any(line.startswith("\t") for line in lines):
            return "\t"
        into_block: list[int] = []
        other: list[int] = []
        for a, b in itertools.pairwise(lines):
            step = width(indentation(b)) - width(indentation(a))
            if step > 0:
                (into_block if opens_block(a, self.language) else other).append(step)
        steps = into_block or other
        return " " * (collections.Counter(steps).most_common(1)[0][0] if steps else 4)

    @functools.cached_property
    def uses_crlf(self) -> bool:
        """The document's lines end with CRLF."""
        return "\r\n" in self.prefix[-2000:] or "\r\n" in self.suffix[:2000]

    def expected_indents(self) -> set[int]:
        """Plausible indentation widths for a line started at the cursor line."""
        out: set[int] = set()
        unit = width(self.indent_unit)
        if self.previous_lines:
            prev = self.previous_lines[-1]
            w = width(indentation(prev))
            out.add(w)
            if opens_block(prev, self.language):
                out.add(w + unit)
            out.update(range(w % unit if unit else 0, w, unit or 1))
        if self.next_lines:
            out.add(width(indentation(self.next_lines[0])))
        if not out:
            out.add(0)
        return out
