"""Indentation of a completion relative to the code around the cursor.

Models often restate indentation the editor already put before the cursor (``····|`` plus a
completion starting with ``····return``), or write spaces in a file indented with tabs.
"""

from __future__ import annotations

from .hole import Hole, indentation, width


def _shift(lines: list[str], remove: int) -> list[str]:
    """Remove up to ``remove`` columns of leading whitespace from each line after the first."""
    out = [lines[0]]
    for line in lines[1:]:
        lead = indentation(line)
        cut = min(len(lead), remove)
        out.append(line[cut:])
    return out


def normalise(text: str, hole: Hole) -> str:
    """``text`` with its indentation made consistent with the surrounding code.

    - When the cursor sits in the line's indentation and the completion starts with more
      whitespace, the completion's own leading whitespace is dropped if the combined
      indentation is implausible while the cursor's is plausible (the following lines move
      left by the same amount).
    - Spaces become tabs in a file indented with tabs (and the reverse), one indentation unit
      at a time.
    """
    if not text:
        return text
    lines = text.split("\n")
    if hole.at_line_start and hole.before:
        lead = indentation(lines[0])
        if lead:
            expected = hole.expected_indents()
            combined = width(hole.before + lead)
            if combined not in expected and width(hole.before) in expected:
                lines = [lines[0][len(lead):], *_shift(lines, width(lead))[1:]]
    unit = hole.indent_unit
    if unit == "\t":
        lines = [_spaces_to_tabs(line) for line in lines]
    elif hole.previous_lines and any(ln.startswith(" ") for ln in hole.previous_lines[-40:]):
        lines = [_tabs_to_spaces(line, unit) for line in lines]
    return "\n".join(lines)


def _spaces_to_tabs(line: str, size: int = 4) -> str:
    lead = indentation(line)
    if "\t" in lead or len(lead) < size:
        return line
    tabs, rest = divmod(len(lead), size)
    return "\t" * tabs + " " * rest + line[len(lead):]


def _tabs_to_spaces(line: str, unit: str) -> str:
    lead = indentation(line)
    if "\t" not in lead:
        return line
    return lead.replace("\t", unit) + line[len(lead):]


def reindent_candidates(text: str, hole: Hole) -> list[str]:
    """``text`` moved so its first line starts at each plausible indentation (nearest to its
    own first), for the parser to choose from when the model's indentation breaks the code.

    Only for a cursor at the start of its line; the cursor's own indentation is never removed.
    """
    if not hole.at_line_start or not text.strip():
        return []
    lines = text.split("\n")
    own = width(hole.before + indentation(lines[0]))
    floor = width(hole.before)
    unit = hole.indent_unit
    step = width(unit) or 4
    out: list[str] = []
    for target in sorted(hole.expected_indents(), key=lambda w: (abs(w - own), w)):
        if target == own or target < floor:
            continue
        delta = target - own
        moved: list[str] = []
        for i, line in enumerate(lines):
            lead = indentation(line)
            body = line[len(lead):]
            if not body:
                moved.append(line)
                continue
            base = width(hole.before + lead) if i == 0 else width(lead)
            new = max(base + delta - (floor if i == 0 else 0), 0)
            if unit == "\t":
                moved.append("\t" * (new // step) + " " * (new % step) + body)
            else:
                moved.append(" " * new + body)
        out.append("\n".join(moved))
    return out
