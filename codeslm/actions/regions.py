"""Regions of a document an action works on, and turning a region into a plan.

Offsets are ``str`` indices into the document's text. A region is usually whole lines (the end
includes its newline); the code sent to the model has the region's common indentation removed
and the answer gets it back (:func:`reindent`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

from .. import outline
from ..documents import offset_of
from ..errors import InputError
from ..redaction import redact_restorable
from ..templates import load_template
from ..types import ChatMessage, Document
from .base import Action, RefactorPlan, RefactorRequest

MAX_REGION_LINES = 200


@dataclass(frozen=True, slots=True)
class Region:
    """``text[start:end]`` of the document, about the definition ``name`` ("" for none)."""

    start: int
    end: int
    name: str = ""


def language(document: Document) -> str:
    """The document's language, or "text"."""
    return document.language or "text"


def lines_region(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole lines (the end includes its newline)."""
    line_start = text.rfind("\n", 0, start) + 1
    if end > start and text[end - 1 : end] == "\n":
        return line_start, end
    newline = text.find("\n", end)
    return line_start, len(text) if newline < 0 else newline + 1


def common_indent(region: str) -> str:
    """The indentation every non-blank line of ``region`` starts with."""
    lines = [ln for ln in region.splitlines() if ln.strip()]
    if not lines:
        return ""
    indents = [re.match(r"[ \t]*", ln).group(0) for ln in lines]  # type: ignore[union-attr]
    common = indents[0]
    for ind in indents[1:]:
        while not ind.startswith(common):
            common = common[:-1]
    return common


def dedent(region: str, indent: str) -> str:
    """``region`` without ``indent`` at the start of its lines."""
    if not indent:
        return region
    return "".join(
        ln[len(indent) :] if ln.startswith(indent) else ln.lstrip(" \t")
        for ln in region.splitlines(keepends=True)
    )


def reindent(code: str, indent: str) -> str:
    """``code`` dedented, then every non-blank line prefixed with ``indent``."""
    code = textwrap.dedent(code)
    if not indent:
        return code
    return "".join(indent + ln if ln.strip() else ln for ln in code.splitlines(keepends=True))


def selection(request: RefactorRequest) -> tuple[int, int]:
    """The request's range as ordered offsets (InputError when out of the document)."""
    text = request.document.text
    start = offset_of(text, request.range.start)
    end = offset_of(text, request.range.end)
    if end < start:
        start, end = end, start
    return start, end


def definition_at(
    document: Document, offset: int, *, kinds: tuple[str, ...] = ("function", "class")
) -> outline.Definition | None:
    """The innermost definition of ``kinds`` at ``offset``."""
    return outline.enclosing_definition(document.text, document.language, offset, kinds=kinds)


def definition_region(
    request: RefactorRequest, *, kinds: tuple[str, ...] = ("function", "class")
) -> Region:
    """The whole lines of the definition at the cursor; InputError when there is none."""
    doc = request.document
    start = selection(request)[0]
    definition = definition_at(doc, start, kinds=kinds)
    if definition is None:
        where = "at the cursor" if start == selection(request)[1] else "around the selection"
        what = "function" if kinds == ("function",) else "function or class"
        raise InputError(
            f"no {what} {where}"
            + ("" if outline.has_grammar(doc.language) else f" ({language(doc)} is not parsed)"),
            hint=f"put the cursor inside a {what}",
        )
    end = lines_region(doc.text, definition.start, definition.end)[1]
    return Region(definition.start, end, definition.name)


def selection_region(request: RefactorRequest) -> Region:
    """The selection widened to whole lines (exactly the selected part of one line), or with
    no selection the definition at the cursor, else the cursor's line. InputError when it is
    blank."""
    text = request.document.text
    sel_start, sel_end = selection(request)
    if sel_start == sel_end:
        definition = definition_at(request.document, sel_start)
        if definition is not None:
            region = Region(
                definition.start,
                lines_region(text, definition.start, definition.end)[1],
                definition.name,
            )
        else:
            region = Region(*lines_region(text, sel_start, sel_end))
    else:
        start, end = lines_region(text, sel_start, sel_end)
        one_line = "\n" not in text[sel_start:sel_end].rstrip("\n")
        if one_line and text[sel_start:sel_end].strip() != text[start:end].strip():
            start, end = sel_start, sel_end  # part of one line: exactly that
        region = Region(start, end)
    if not text[region.start : region.end].strip():
        raise InputError("the selection is empty", hint="select the code to work on")
    return region


def problem_region(request: RefactorRequest) -> Region:
    """The function with the reported problem when it is short, else a few lines around it."""
    text = request.document.text
    problem = request.problem
    if problem is None:
        raise InputError("a fix needs the problem (a diagnostic) to fix")
    p_start = offset_of(text, problem.range.start)
    definition = definition_at(request.document, p_start, kinds=("function",))
    if definition is not None and text.count("\n", definition.start, definition.end) < 80:
        return Region(
            definition.start,
            lines_region(text, definition.start, definition.end)[1],
            definition.name,
        )
    lines = text.splitlines(keepends=True)
    first = max(0, problem.range.start.line - 3)
    last = min(len(lines), problem.range.end.line + 4)
    start = sum(len(ln) for ln in lines[:first])
    return Region(start, start + sum(len(ln) for ln in lines[first:last]))


def check_size(text: str, start: int, end: int) -> None:
    """InputError when the region is too long to rewrite."""
    lines = text.count("\n", start, end) + 1
    if lines > MAX_REGION_LINES:
        raise InputError(
            f"the region is {lines} lines; refactors work on at most {MAX_REGION_LINES}",
            hint="select a smaller part of the code",
        )


Render = Callable[[dict[str, str]], tuple[ChatMessage, ...]]


def build_plan(
    action: Action,
    request: RefactorRequest,
    region: Region,
    values: dict[str, str],
    *,
    render: Render | None = None,
    test_path: str | None = None,
    test_import: str | None = None,
) -> RefactorPlan:
    """The plan for ``region``: the code dedented, its secrets replaced by numbered markers
    (put back into the answer, so an edit never writes a marker over a secret), rendered into
    the action's template with ``values`` plus ``language`` and ``code`` (or by ``render``)."""
    text = request.document.text
    check_size(text, region.start, region.end)
    body = text[region.start : region.end]
    partial_line = region.start > 0 and text[region.start - 1] != "\n"
    indent = "" if partial_line else common_indent(body)
    code = dedent(body, indent).rstrip("\n")
    secrets = redact_restorable(code)
    rendered = {"language": language(request.document), "code": secrets.text, **values}
    if render is not None:
        messages = render(rendered)
    else:
        messages = load_template(action.template).render(**rendered)
    return RefactorPlan(
        request,
        messages,
        region.start,
        region.end,
        indent,
        region.name,
        action.max_tokens,
        test_path,
        test_import,
        secrets,
        action,
    )
