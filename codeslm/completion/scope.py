"""Keep a multi-line completion inside the code unit the cursor is in.

A completion that starts in a function body ends where it would leave that function (a line
indented no deeper than the function's header: the next function, a ``if __name__`` block,
test code); a completion at the top level of a file ends at its first blank line. A line
that only closes the unit (``}`` at the header's indentation) is kept: whether the suffix
already has it is decided later against the suffix and the parser.
"""

from __future__ import annotations

import re

from .hole import Hole, indentation, is_closer_line, opens_block, width

# A line that starts a definition (function, method, class...), per language.
_DEFINITION = {
    "python": r"(async\s+def|def|class)\b",
    "go": r"func\b|type\s+\w+\s+(struct|interface)\b",
    "rust": r"((pub(\([^)]*\))?|async|unsafe|const|extern(\s+\"C\")?)\s+)*(fn|impl|trait|mod)\b",
    "javascript": r"(export\s+)?(default\s+)?(async\s+)?(function\b|class\b)"
    r"|((static|async|get|set|public|private|protected|readonly)\s+)*[\w$]+\s*\(.*\)\s*\{\s*$"
    r"|.*=>\s*\{\s*$|(const|let|var)\s+[\w$]+\s*=\s*(async\s+)?function\b",
    "java": r"((public|private|protected|static|final|abstract|synchronized|native|default)\s+)*"
    r"([\w<>\[\],.?\s]+\s+)?[\w$]+\s*\([^;]*\)\s*(throws\s+[\w.,\s]+)?\{?\s*$"
    r"|((public|private|protected|static|final|abstract)\s+)*(class|interface|enum|record)\b",
    "c": r"(?!(if|for|while|switch|else|do|return)\b)[\w\s\*]+\s*\**\w+\s*\([^;]*\)\s*\{?\s*$",
}
_DEFINITION["typescript"] = _DEFINITION["tsx"] = (
    r"((export|declare|default|abstract)\s+)*(interface|type|enum|namespace|module)\b|"
    + _DEFINITION["javascript"]
)
_DEFINITION["cpp"] = _DEFINITION["c"] + r"|(class|struct|namespace)\b"
_COMPILED = {lang: re.compile(pattern) for lang, pattern in _DEFINITION.items()}
_GENERIC = re.compile(r"(def|fn|func|function|class|sub|proc)\b")


def start_indent(hole: Hole, first_line: str) -> int:
    """Indentation width of the code the completion starts writing."""
    if hole.at_line_start:
        return width(hole.before + indentation(first_line))
    own = width(indentation(hole.before))
    if opens_block(hole.before, hole.language):
        return own + width(hole.indent_unit)
    return own


def enclosing_header(hole: Hole, inner: int) -> int | None:
    """Indentation width of the nearest definition header enclosing code at ``inner``, or
    None at the top level."""
    pattern = _COMPILED.get(hole.language or "", _GENERIC)
    lines = list(hole.previous_lines)
    if not hole.at_line_start:
        lines.append(hole.prefix[hole.prefix.rfind("\n") + 1 :])
    limit = inner
    for line in reversed(lines):
        w = width(indentation(line))
        if w >= limit:
            continue
        limit = w  # only lines that enclose the previous enclosing line
        if pattern.match(line.strip()):
            return w
        if w == 0:
            return None
    return None


def is_definition(hole: Hole, line: str) -> bool:
    """``line`` starts a definition in the hole's language."""
    return bool(_COMPILED.get(hole.language or "", _GENERIC).match(line.strip()))


def scope_floor(hole: Hole, inner: int) -> int | None:
    """Indentation at or below which a completion written at ``inner`` has left its unit.

    Normally the header of the definition around the cursor. When the code right after the
    cursor is a plain statement outside that definition but inside an outer one (the cursor
    ends a nested function whose parent goes on), the outer definition's header.
    """
    header = enclosing_header(hole, inner + (0 if inner else 1))
    if header is None:
        return None
    following = next((ln for ln in hole.next_lines if not is_closer_line(ln)), None)
    if following is not None and not is_definition(hole, following):
        level = width(indentation(following))
        if 0 < level <= header:
            outer = enclosing_header(hole, level)
            if outer is not None:
                return outer
    return header


def scope_end(lines: list[str], hole: Hole) -> int | None:
    """Where the completion leaves the cursor's code unit: keep ``lines[:index]``; None while
    it has not left it (the last line may still be growing, so callers pass whole lines)."""
    if not lines:
        return None
    inner = start_indent(hole, lines[0])
    header = scope_floor(hole, inner)
    if header is None:
        if inner == 0 and hole.at_line_start:
            # Top level: one paragraph (up to the first blank line after some code).
            for i, line in enumerate(lines):
                if not line.strip() and any(ln.strip() for ln in lines[:i]):
                    return i
        return None
    for i in range(1, len(lines)):
        line = lines[i]
        if not line.strip():
            continue
        if width(indentation(line)) <= header:
            return i + 1 if is_closer_line(line) and hole.language != "python" else i
    return None


def scope_cut(lines: list[str], hole: Hole) -> int:
    """Number of leading completion lines that stay in the cursor's code unit."""
    end = scope_end(lines, hole)
    return len(lines) if end is None else end
