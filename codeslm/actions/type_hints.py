"""Built-in action ``type_hints``: annotate the Python function at the cursor.

The model rewrites the whole function with annotations; only its new signature is applied
(minimal edits: the body, the docstring and the comments stay exactly as they are), plus the
imports the new annotations need. A signature whose parameters differ from the original's
(renamed, dropped, reordered, other defaults) is refused: the action adds types, nothing else.
"""

from __future__ import annotations

import ast
import io
import re
import textwrap
import tokenize

from .. import outline
from ..errors import InputError
from ..generate import extract_code
from ..textedit import TextEdit, insertion, region_edits
from .base import Action, FileChange, Offer, ReadText, RefactorPlan, RefactorRequest, UnusableAnswer
from .regions import build_plan, definition_region, reindent


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
        signature = _answer_signature(code, plan.name)
        header_line = text[target.header_start :]
        indent = re.match(r"[ \t]*", header_line).group(0)  # type: ignore[union-attr]
        new = reindent(signature, indent)
        _check_same_parameters(text[target.header_start : old_end], new)
        edits = region_edits(text, target.header_start, old_end, new)
        if not edits:
            raise UnusableAnswer("the model proposed no change")
        edits = _import_edits(text, code, new) + edits
        return [FileChange(doc.path or "", tuple(edits), text)]


def header_end(code: str, start: int) -> int | None:
    """The offset just after the ``:`` that ends the ``def`` header starting at ``start``
    (tokenized, so colons in strings, lambdas and brackets do not count); None when the
    header is incomplete."""
    depth = 0
    lines = code[start:].splitlines(keepends=True)
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code[start:]).readline):
            if tok.type != tokenize.OP:
                continue
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
            elif tok.string == ":" and depth == 0:
                row, col = tok.end
                return start + sum(len(ln) for ln in lines[: row - 1]) + col
    except (tokenize.TokenError, SyntaxError):  # cut off mid-header, or not Python
        return None
    return None


def _answer_signature(code: str, name: str) -> str:
    """The signature (``def`` line(s) up to its colon) of ``name`` in the answer."""
    for definition in outline.definitions(code, "python", kinds=("function",)):
        if definition.name != name:
            continue
        end = header_end(code, definition.header_start)
        if end is not None:
            return code[definition.header_start : end]
    raise UnusableAnswer(f"the model's answer has no function {name or ''}".rstrip())


def _parameters(signature: str) -> tuple[list[str], int, int]:
    """Parameter names (kinds marked), defaults and keyword defaults of a signature."""
    try:
        tree = ast.parse(textwrap.dedent(signature) + " ...")
    except SyntaxError:
        raise UnusableAnswer("the model's signature is not valid Python") from None
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    args = function.args
    names = [f"/{a.arg}" for a in args.posonlyargs] + [a.arg for a in args.args]
    names += [f"*{args.vararg.arg}"] if args.vararg else []
    names += [f"={a.arg}" for a in args.kwonlyargs]
    names += [f"**{args.kwarg.arg}"] if args.kwarg else []
    kw_defaults = sum(d is not None for d in args.kw_defaults)
    return names, len(args.defaults), kw_defaults


def _check_same_parameters(old: str, new: str) -> None:
    if _parameters(old) != _parameters(new):
        raise UnusableAnswer("the model changed the parameters, not only their types")


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
