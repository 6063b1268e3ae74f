"""Built-in action ``docstring``: add or refresh the documentation of the function or class at
the cursor. Only the documentation the model wrote is taken; its copy of the code is never
applied (a model "helpfully" changing the body changes nothing)."""

from __future__ import annotations

import re
import textwrap

from .. import outline
from ..generate import extract_code
from ..textedit import TextEdit, insertion, region_edits
from .base import Action, FileChange, Offer, ReadText, RefactorPlan, RefactorRequest, UnusableAnswer
from .regions import build_plan, definition_region, language

DOC_STYLES = {
    "python": "a docstring (PEP 257: a one-line summary, then Args/Returns/Raises when useful)",
    "javascript": "a JSDoc comment (/** ... */) directly above it",
    "typescript": "a TSDoc comment (/** ... */) directly above it",
    "tsx": "a TSDoc comment (/** ... */) directly above it",
    "go": "a Go doc comment (// lines starting with its name) directly above it",
    "rust": "a /// doc comment directly above it",
    "java": "a Javadoc comment (/** ... */) directly above it",
    "c": "a Doxygen comment (/** ... */) directly above it",
    "cpp": "a Doxygen comment (/** ... */) directly above it",
}

_COMMENT_LINE = re.compile(r"^\s*(///?|/\*\*?|\*/?|#)")


class Docstring(Action):
    name = "docstring"
    title = "Add or refresh docstring"
    command = "codeslm.docstring"
    template = "docstring"
    max_tokens = 512  # the documentation alone stops generation earlier (answer_complete)
    offer = Offer.CURSOR

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        region = definition_region(request)
        style = DOC_STYLES.get(
            language(request.document), "a documentation comment directly above it"
        )
        return build_plan(self, request, region, {"doc_style": style})

    def answer_complete(self, plan: RefactorPlan, answer: str) -> bool:
        """True once the answer holds the documentation (the rest would be a copy of the
        code)."""
        code = extract_code(answer) if "```" in answer else answer
        if (plan.request.document.language or "") == "python":
            header = re.search(r"^\s*(?:async\s+)?(?:def|class)\s+\w+.*:\s*$", code, re.M)
            if not header:
                return False
            body = code[header.end() :]
            match = re.match(r'\s*[rRuUbB]*("""|\'\'\')', body)
            return match is not None and body.count(match.group(1), match.end()) >= 1
        return (
            bool(plan.name)
            and re.search(rf"^[^\n]*\b{re.escape(plan.name)}\b[^\n]*$", code, re.M) is not None
            and bool(re.search(r"^\s*(///|//|/\*\*|\*)", code, re.M))
        )

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        doc = plan.request.document
        text = doc.text
        code = extract_code(answer) if "```" in answer else answer
        target = outline.enclosing_definition(text, doc.language, plan.start)
        if target is None or target.start != plan.start:
            raise UnusableAnswer("the function moved while generating")
        if doc.language == "python":
            edits = _python_edits(plan, text, code, target)
        else:
            edits = _comment_edits(plan, text, code, target)
        return [FileChange(doc.path or "", tuple(edits), text)]


def _python_edits(
    plan: RefactorPlan, text: str, code: str, target: outline.Definition
) -> list[TextEdit]:
    literal = python_docstring(code, plan.name)
    if literal is None:
        raise UnusableAnswer("the model's answer has no docstring")
    if target.docstring is not None:
        d_start, d_end = target.docstring
        return region_edits(
            text, d_start, d_end, _indent_literal(literal, target.body_indent or "")
        )
    if target.body_start is not None:
        indent = target.body_indent or ""
        block = indent + _indent_literal(literal, indent) + "\n"
        return insertion(text, target.body_start, block)
    raise UnusableAnswer(
        f"{plan.name or 'the definition'} has its body on the same line; "
        "put it on its own line first"
    )


def _comment_edits(
    plan: RefactorPlan, text: str, code: str, target: outline.Definition
) -> list[TextEdit]:
    comment = _leading_comment(code, plan.name)
    if comment is None:
        raise UnusableAnswer("the model's answer has no documentation comment")
    block = "".join(
        target.indent + ln.strip() + "\n"
        if not ln.lstrip().startswith("*")
        else target.indent + " " + ln.strip() + "\n"
        for ln in comment
    )
    existing_start = _existing_comment_start(text, target.start)
    return region_edits(text, existing_start, target.start, block)


def python_docstring(code: str, name: str) -> str | None:
    """The docstring literal (quotes included, dedented) of ``name`` in the answer."""
    definitions = outline.definitions(code, "python")
    ordered = sorted(definitions, key=lambda d: (d.name != name, d.start))
    for definition in ordered:
        if definition.docstring is not None:
            start, end = definition.docstring
            return _dedent_literal(code[start:end])
    # A bare string literal (the model answered with the docstring alone).
    stripped = code.strip()
    if re.fullmatch(r'[rRuU]?("""|\'\'\').*\1', stripped, re.S):
        return _dedent_literal(stripped)
    return None


def _dedent_literal(literal: str) -> str:
    """A docstring literal whose continuation lines have no common indentation."""
    first, _, rest = literal.partition("\n")
    if not rest:
        return first
    return first + "\n" + textwrap.dedent(rest)


def _indent_literal(literal: str, indent: str) -> str:
    first, _, rest = literal.partition("\n")
    if not rest:
        return first
    lines = rest.splitlines(keepends=True)
    return first + "\n" + "".join(indent + ln if ln.strip() else ln for ln in lines)


def _leading_comment(code: str, name: str) -> list[str] | None:
    """The comment lines right above the line that declares ``name`` in the answer."""
    lines = code.splitlines()
    pattern = re.compile(rf"\b{re.escape(name)}\b") if name else None
    for i, line in enumerate(lines):
        if _COMMENT_LINE.match(line) or not line.strip():
            continue
        if pattern is not None and not pattern.search(line):
            continue
        j = i
        while j > 0 and _COMMENT_LINE.match(lines[j - 1]) and lines[j - 1].strip():
            j -= 1
        # Skip decorators/attributes between the comment and the declaration.
        block = lines[j:i]
        if block:
            return block
        return None
    return None


def _existing_comment_start(text: str, def_start: int) -> int:
    """Start of the comment block directly above a definition (or ``def_start``)."""
    start = def_start
    while start > 0:
        prev_start = text.rfind("\n", 0, start - 1) + 1
        line = text[prev_start : start - 1] if text[start - 1] == "\n" else ""
        if line.strip() and _COMMENT_LINE.match(line) and not line.lstrip().startswith("#"):
            start = prev_start
            continue
        break
    return start
