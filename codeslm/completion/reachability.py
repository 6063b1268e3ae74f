"""Never make the code after the cursor unreachable.

A completion that ends with ``return`` (or ``raise``, ``throw``, ``break``, ``continue``) at
the indentation of the next statement after the cursor turns that statement into dead code;
the model has stopped early, usually because it guessed the rest of the function. The
completion is cut before such a line. A terminator whose block the completion itself closes
(a later line is indented less: ``if c == ' ':`` / ``continue`` / ``if c == '(':``) leaves the
next statement reachable and stays.
"""

from __future__ import annotations

import re

from .hole import Hole, indentation, is_closer_line, width
from .scope import is_definition

_TERMINATOR = {
    "python": re.compile(r"(return|raise|break|continue)\b"),
    "go": re.compile(r"(return|break|continue|goto)\b|panic\("),
    "rust": re.compile(r"(return|break|continue)\b|panic!"),
}
_DEFAULT = re.compile(r"(return|throw|break|continue)\b")
# Lines that continue the construct a terminator may legitimately end (a branch, a case).
_CONTINUES = re.compile(r"(else|elif|except|finally|case|default|catch)\b|[}\])]")
_COMMENT = ("#", "//", "/*", "*")


def next_statement(hole: Hole) -> str | None:
    """The first line after the cursor's line that is code (not blank, not a comment)."""
    for line in hole.next_lines:
        if not line.strip().startswith(_COMMENT if hole.language != "python" else ("#",)):
            return line
    return None


def unreachable_cut(lines: list[str], hole: Hole) -> int:
    """Number of leading completion lines to keep so the code after the cursor stays
    reachable (all of them when nothing would become dead)."""
    following = next_statement(hole)
    if (following is None or is_closer_line(following) or _CONTINUES.match(following.strip())
            or is_definition(hole, following)):
        return len(lines)  # a branch, a closing bracket or a new definition: still reachable
    level = width(indentation(following))
    terminator = _TERMINATOR.get(hole.language or "", _DEFAULT)
    for i, line in enumerate(lines):
        full = hole.before + line if i == 0 else line
        if full.strip() and width(indentation(full)) == level and terminator.match(full.strip()) \
                and not any(later.strip() and width(indentation(later)) < level
                            for later in lines[i + 1:]):
            return i
    return len(lines)
