"""Built-in action ``type_hints``: annotate the Python function at the cursor.

The model rewrites the whole function with annotations; only the annotations of its signature
are applied (:func:`.signatures.transplant_annotations`: to the parameters of the same name
that have none, and to the return value), as minimal edits, plus the imports they need. The
body, the docstring, the comments, the parameters and their defaults stay exactly as they
are, whatever else the model changed: the action adds types, nothing else.
"""

from __future__ import annotations

import ast
import re

from .. import outline
from ..errors import InputError
from ..generate import extract_code
from ..textedit import TextEdit, insertion, region_edits
from .base import Action, FileChange, Offer, ReadText, RefactorPlan, RefactorRequest, UnusableAnswer
from .regions import build_plan, definition_region
from .signatures import header_end, transplant_annotations


class TypeHints(Action):
    name = "type_hints"
    title = "Add type hints"
    command = "codeslm.addTypeHints"
    template = "type_hints"
    max_tokens = 512  # the signature alone stops generation earlier (answer_complete)
    offer = Offer.CURSOR
    languages = frozenset({"python"})

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        if request.document.language != "python":
            raise InputError(
                f"type hints are added to Python only, not "
                f"{request.document.language or 'this file'}"
            )
        region = definition_region(request, kinds=("function",))
        return build_plan(self, request, region, {})

    def answer_complete(self, plan: RefactorPlan, answer: str) -> bool:
        """True once the answer's signature of the function is complete."""
        code = extract_code(answer) if "```" in answer else answer
        match = re.search(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(plan.name)}\b", code, re.M)
        return match is not None and header_end(code, match.start()) is not None

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        doc = plan.request.document
        text = doc.text
        target = outline.enclosing_definition(text, "python", plan.start, kinds=("function",))
        if target is None or target.start != plan.start:
            raise UnusableAnswer("the function moved while generating")
        old_end = header_end(text, target.header_start)
        if old_end is None:
            raise UnusableAnswer("the function's signature does not parse")
        code = extract_code(answer)
        old = text[target.header_start : old_end]
        new = transplant_annotations(old, _answer_signature(code, plan.name))
        edits = region_edits(text, target.header_start, old_end, new)
        if not edits:
            raise UnusableAnswer("the model proposed no change")
        edits = _import_edits(text, code, new) + edits
        return [FileChange(doc.path or "", tuple(edits), text)]


def _answer_signature(code: str, name: str) -> str:
    """The signature (``def`` line(s) up to its colon) of ``name`` in the answer."""
    for definition in outline.definitions(code, "python", kinds=("function",)):
        if definition.name != name:
            continue
        end = header_end(code, definition.header_start)
        if end is not None:
            return code[definition.header_start : end]
    raise UnusableAnswer(f"the model's answer has no function {name or ''}".rstrip())


_IMPORT = re.compile(
    r"^(?:from\s+[\w.]+\s+import\s+(?P<names>[\w\s,]+)|import\s+(?P<mod>[\w.]+))"
    r"\s*$"
)


def _import_edits(text: str, code: str, signature: str) -> list[TextEdit]:
    """Insertions of the answer's top-level imports that the new signature uses and the file
    lacks, after the file's last top-level import (or at its top)."""
    present = {ln.strip() for ln in text.splitlines()}
    wanted: list[str] = []
    for line in code.splitlines():
        match = _IMPORT.match(line)
        if match is None or line.strip() in present or "__future__" in line:
            continue
        names = (match.group("names") or match.group("mod") or "").replace(",", " ").split()
        bound = [n.split(".")[0] for n in names if n != "as"]
        if any(re.search(rf"\b{re.escape(n)}\b", signature) for n in bound):
            wanted.append(line.strip())
    if not wanted:
        return []
    return insertion(text, _import_offset(text), "".join(f"{ln}\n" for ln in wanted))


def _import_offset(text: str) -> int:
    """Where a new import goes: after the last top-level import, else after a shebang,
    leading comments and the module docstring."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    last = max((i for i, ln in enumerate(lines) if re.match(r"(import|from)\s", ln)), default=None)
    if last is not None:
        return offsets[last + 1]
    try:
        body = ast.parse(text).body
    except SyntaxError:
        body = []
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return offsets[min(body[0].end_lineno or 0, len(lines))]
    first = 0
    while first < len(lines) and lines[first].startswith("#"):
        first += 1
    return offsets[first]
