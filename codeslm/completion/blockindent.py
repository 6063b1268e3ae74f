"""The indentation a cursor left shallower than its block should have.

An editor without auto-indent, or a line the user cleared, leaves the cursor at column 0 (or
part-way into the indentation) of an empty line inside an indented body. Shown a prefix that
ends there, a small model sometimes writes top-level code (``def main():``). The engine asks
:func:`missing_indentation` for the whitespace that would put the cursor at the least
indentation its block allows. It completes at the real cursor first (left at column 0, a model
mostly writes the right indentation itself, and a prompt ending in spaces splits indentation
into tokens where training text does not); only when that completion starts shallower
(:func:`starts_shallower`) does it ask again as if the cursor were at the block's indentation,
post-process there, and insert that whitespace in front of the completion (the edit still
starts at the real cursor).

The rule is textual, on the nearest informative lines above and below the cursor (blank lines,
and comments or preprocessor lines at column 0, say nothing about the block):

- the line above opens a block (``:`` or ``=>``/``->`` at its end): one indentation unit
  deeper than the opener (or the line below's indentation when that is deeper but less);
- the line above opens a bracket (``{``, ``(``, ``[``): the same when the line below is deeper,
  closes a bracket or is absent; nothing when the line below sits at the opener's depth (a
  namespace or ``extern "C"`` block whose body is not indented);
- the line above is indented and the line below is indented too: one unit shallower than the
  shallower of the two (the cursor's line may be an ``else:`` or a dedented ``if`` whose body
  is the line below) but no shallower than the unit's outermost body (below); a closing
  bracket below counts one unit deeper than it stands (it ends an indented body) and then the
  shallower of the two stands;
- the line above is indented and the line below is at column 0: the unit above goes on only
  when the cursor line sits right under its last line (an Enter there, no blank line between)
  and a blank line separates it from the line below;
- the line above is indented and nothing follows (the end of the file): the unit goes on when
  at most one blank line separates it from the cursor (two or more before top-level code is
  the usual style, PEP 8's among others);
- in both, the indentation is the unit's outermost body (a function's body, a class's
  members), the least the model can deepen; and a Python unit whose body already ended with
  ``return``/``raise``/``pass`` at that outermost level is finished: nothing then.

Nothing happens when the cursor is already at or past that indentation, at true top level
(module level between functions: blank lines on both sides), inside a string or comment, when
what is before the cursor is not a prefix of the target indentation (spaces typed in a file
indented with tabs), or in a language where indentation is not code structure (prose, data).
"""

from __future__ import annotations

import re

from .hole import Hole, indentation, is_closer_line, opens_block, strip_line_comment, width
from .mode import in_comment_or_string

# Languages whose blocks are indented code: Python by indentation, the rest by brackets.
BRACKET_LANGUAGES = frozenset(
    {
        "javascript",
        "typescript",
        "tsx",
        "go",
        "rust",
        "java",
        "c",
        "cpp",
        "c_sharp",
        "kotlin",
        "swift",
        "php",
        "scala",
        "dart",
    }
)
_PREPROCESSOR_LANGUAGES = frozenset({"c", "cpp", "c_sharp"})
MAX_BLANK_LINES_AT_END = 1  # between a body and a cursor at the end of the file
_ENDS_BODY = re.compile(r"(return|raise|pass)\b")


def _says_nothing(line: str, language: str) -> bool:
    """A line at column 0 whose position tells nothing about the block around it: a comment
    (Python allows it anywhere) or a preprocessor directive."""
    if indentation(line):
        return False
    code = line.strip()
    if language == "python":
        return code.startswith("#")
    return code.startswith(("//", "/*", "*")) or (
        language in _PREPROCESSOR_LANGUAGES and code.startswith("#")
    )


def _nearest(lines: list[str], language: str) -> str | None:
    return next((line for line in lines if not _says_nothing(line, language)), None)


def _deeper(indent: str, unit: str) -> str:
    """``indent`` one unit deeper, in the characters it already uses."""
    return indent + ("\t" if "\t" in indent else unit)


def _target(hole: Hole, language: str) -> str | None:
    """The block's indentation at the cursor line, or None when it cannot be told."""
    above = _nearest(list(reversed(hole.previous_lines)), language)
    if above is None:
        return None
    below = _nearest(hole.next_lines, language)
    up = indentation(above)
    down = indentation(below) if below is not None else None
    if opens_block(above, language):
        deeper = _deeper(up, hole.indent_unit)
        if down is not None and width(down) > width(up) and not is_closer_line(below or ""):
            # The body is already there; the cursor's line may itself open a block whose body
            # is the line below, so that line's indentation is an upper bound, not the answer.
            return down if width(down) < width(deeper) else deeper
        code = strip_line_comment(above, language).rstrip()
        colon_like = code.endswith((":", "=>", "->"))
        if colon_like or below is None or is_closer_line(below):
            return deeper
        return None  # a bracket whose body stays at the opener's depth (namespace { ...)
    if not up:
        return None  # true top level
    if below is not None and down is not None:
        closer = is_closer_line(below)
        step = width(hole.indent_unit)
        down_width = width(down) + (step if closer else 0)
        if down_width > 0:
            bound = min(width(up), down_width)
            if not closer:
                # The cursor's line may open a block whose body is the line below (``elif``,
                # ``else:``, a dedented ``if``): a unit shallower, but inside the outer body.
                bound = max(bound - step, width(_outer_body(hole, language)))
            return _of_width(hole, bound, language)
    # Column 0 below, or nothing: the unit above may be over. It goes on when the cursor line
    # is right under its last line and set apart from what follows.
    lines_above = hole.prefix.split("\n")[:-1]
    last_code = max((i for i, line in enumerate(lines_above) if line.strip()), default=-1)
    blank_above = len(lines_above) - 1 - last_code
    if below is None:
        if blank_above > MAX_BLANK_LINES_AT_END:
            return None
    else:
        lines_below = hole.suffix.split("\n")  # [0] is the rest of the cursor line
        gap_below = len(lines_below) > 1 and not lines_below[1].strip()
        if blank_above or not gap_below or lines_above[-1].rstrip("\r") != above:
            return None
    body = _outer_body(hole, language)
    if language == "python" and width(up) <= width(body) and _ENDS_BODY.match(above.strip()):
        return None  # the function already returned at its outermost level: it is finished
    return body


def _of_width(hole: Hole, columns: int, language: str) -> str:
    """An indentation ``columns`` wide in the characters the nearest such line uses."""
    for line in reversed(hole.previous_lines):
        lead = indentation(line)
        if width(lead) == columns and not _says_nothing(line, language):
            return lead
    if hole.indent_unit == "\t":
        return "\t" * (columns // 4) + " " * (columns % 4)
    return " " * columns


def _outer_body(hole: Hole, language: str) -> str:
    """The shallowest indentation among the lines above back to the last one at column 0:
    the body of the top-level unit the cursor follows."""
    found: str | None = None
    for line in reversed(hole.previous_lines):
        if _says_nothing(line, language):
            continue
        lead = indentation(line)
        if not lead:
            break
        if found is None or width(lead) < width(found):
            found = lead
    return found or ""


def starts_shallower(text: str, hole: Hole, lead: str) -> bool:
    """Whether ``text``, completed at the cursor of ``hole``, starts its first non-blank line
    shallower than ``lead`` would put it (top-level code where the block needs ``lead``)."""
    first = next((line for line in text.split("\n") if line.strip()), None)
    if first is None:
        return False
    return width(hole.before + indentation(first)) < width(hole.before + lead)


def missing_indentation(hole: Hole) -> str:
    """The whitespace to add at the cursor so it sits at its block's indentation; ``""`` when
    the cursor is not on a whitespace-only line shallower than its block (see the module
    docstring for the rule). Adding it keeps ``hole.before + result`` equal to the lines'
    own indentation characters (tabs stay tabs)."""
    language = hole.language
    if language != "python" and language not in BRACKET_LANGUAGES:
        return ""
    if hole.before.strip() or hole.after.strip():
        return ""
    target = _target(hole, language)
    if target is None or width(target) <= width(hole.before):
        return ""
    if not target.startswith(hole.before):
        return ""  # e.g. spaces before the cursor in a file indented with tabs
    if in_comment_or_string(hole):
        return ""  # inside a multi-line string or comment, column 0 may be the content's
    return target[len(hole.before) :]
