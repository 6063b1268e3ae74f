"""Model-driven refactors: plan (what to ask), generate, and turn the answer into minimal edits.

Surfaces (the language server's code actions, a future CLI) call :func:`plan_refactor`, then
:func:`generate_answer`, then :func:`apply_answer`; everything here is independent of the
protocol. Kinds:

- ``docstring``: add or refresh the documentation of the function/class at the cursor. Only the
  documentation the model wrote is taken; the model's copy of the code is never applied.
- ``tests``: unit tests for the function/class at the cursor, appended to (or creating) the
  conventional test file of the language.
- ``explain``: a plain-words explanation of the selection, inserted as a comment above it.
- ``fix``: fix a reported problem (a diagnostic) in the code around it.
- ``edit``: rewrite the selection by the user's instruction.

Edits are minimal: the answer for a region is diffed against the region
(:mod:`codeslm.textedit`), so unchanged lines are not touched.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from . import outline
from .backends.base import Backend
from .documents import line_comment, offset_of
from .errors import CodeslmError, InputError
from .generate import extract_code
from .redaction import Restorable, redact_if_needed, redact_restorable
from .templates import load_template
from .textedit import TextEdit, insertion, region_edits
from .types import ChatMessage, Document, GenerationRequest, Range

ReadText = Callable[[str], "str | None"]


class UnusableAnswer(CodeslmError):
    """The model answered, but nothing applicable could be taken from the answer."""

    exit_code = 3


class RefactorKind(StrEnum):
    """What a refactor does; the value is also the code action's short name."""

    DOCSTRING = "docstring"
    TESTS = "tests"
    EXPLAIN = "explain"
    FIX = "fix"
    EDIT = "edit"


TITLES = {
    RefactorKind.DOCSTRING: "Add or refresh docstring",
    RefactorKind.TESTS: "Generate tests",
    RefactorKind.EXPLAIN: "Explain as a comment",
    RefactorKind.FIX: "Fix",
    RefactorKind.EDIT: "Edit selection",
}

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

# Tokens the answer may take, per kind (the documentation alone stops generation earlier).
MAX_TOKENS = {
    RefactorKind.DOCSTRING: 512,
    RefactorKind.TESTS: 768,
    RefactorKind.EXPLAIN: 200,
    RefactorKind.FIX: 768,
    RefactorKind.EDIT: 768,
}

_MAX_REGION_LINES = 200


@dataclass(frozen=True, slots=True)
class Problem:
    """A diagnostic the editor reported: message, where, and who said so."""

    message: str
    range: Range
    source: str | None = None
    code: str | None = None

    def describe(self) -> str:
        who = f"{self.source}: " if self.source else ""
        code = f" [{self.code}]" if self.code else ""
        return f"{who}{self.message.strip()}{code} (line {self.range.start.line + 1})"


@dataclass(frozen=True, slots=True)
class RefactorRequest:
    """One refactor of ``document`` at ``range`` (the selection, or an empty range at the
    cursor). ``root`` is the workspace folder (where test files go)."""

    kind: RefactorKind
    document: Document
    range: Range
    instruction: str = ""
    problem: Problem | None = None
    root: str | None = None


@dataclass(frozen=True, slots=True)
class FileChange:
    """Edits to one file. ``create`` means the file does not exist yet (the edits then apply to
    an empty text); ``base_text`` is the text the edits were computed against."""

    path: str
    edits: tuple[TextEdit, ...]
    base_text: str
    create: bool = False


@dataclass(frozen=True, slots=True)
class RefactorPlan:
    """What to ask the model and where the answer goes."""

    request: RefactorRequest
    messages: tuple[ChatMessage, ...]
    start: int  # the region of the document the answer is about (offsets)
    end: int
    indent: str  # the common indentation removed from the region before asking
    name: str  # the function/class name, or "" for a bare region
    max_tokens: int
    test_path: str | None = None
    test_import: str | None = None  # the import the tests need (added if the model forgot it)
    secrets: Restorable = field(default_factory=lambda: Restorable(""))  # see plan_refactor

    @property
    def title(self) -> str:
        return TITLES[self.request.kind] + (f" for {self.name}" if self.name else "")


# -- planning -------------------------------------------------------------------------------


def _language(document: Document) -> str:
    return document.language or "text"


def _lines_region(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to whole lines (the end includes its newline)."""
    line_start = text.rfind("\n", 0, start) + 1
    if end > start and text[end - 1 : end] == "\n":
        return line_start, end
    newline = text.find("\n", end)
    return line_start, len(text) if newline < 0 else newline + 1


def _common_indent(region: str) -> str:
    lines = [ln for ln in region.splitlines() if ln.strip()]
    if not lines:
        return ""
    indents = [re.match(r"[ \t]*", ln).group(0) for ln in lines]  # type: ignore[union-attr]
    common = indents[0]
    for ind in indents[1:]:
        while not ind.startswith(common):
            common = common[:-1]
    return common


def _dedent(region: str, indent: str) -> str:
    if not indent:
        return region
    return "".join(ln[len(indent):] if ln.startswith(indent) else ln.lstrip(" \t")
                   for ln in region.splitlines(keepends=True))


def _reindent(code: str, indent: str) -> str:
    code = textwrap.dedent(code)
    if not indent:
        return code
    return "".join(indent + ln if ln.strip() else ln for ln in code.splitlines(keepends=True))


def _definition_at(request: RefactorRequest, offset: int, *,
                   kinds: tuple[str, ...] = ("function", "class")) -> outline.Definition | None:
    doc = request.document
    return outline.enclosing_definition(doc.text, doc.language, offset, kinds=kinds)


def _selection(request: RefactorRequest) -> tuple[int, int]:
    text = request.document.text
    start = offset_of(text, request.range.start)
    end = offset_of(text, request.range.end)
    if end < start:
        start, end = end, start
    return start, end


def _check_size(text: str, start: int, end: int) -> None:
    lines = text.count("\n", start, end) + 1
    if lines > _MAX_REGION_LINES:
        raise InputError(
            f"the region is {lines} lines; refactors work on at most {_MAX_REGION_LINES}",
            hint="select a smaller part of the code",
        )


def plan_refactor(request: RefactorRequest, *, read_text: ReadText | None = None) -> RefactorPlan:
    """Decide the region and the messages for ``request``; InputError when it cannot apply
    (no function at the cursor, empty instruction...)."""
    kind = request.kind
    doc = request.document
    text = doc.text
    lang = _language(doc)
    sel_start, sel_end = _selection(request)
    name = ""
    test_path = test_import = None
    if kind in (RefactorKind.DOCSTRING, RefactorKind.TESTS):
        definition = _definition_at(request, sel_start)
        if definition is None:
            where = "at the cursor" if sel_start == sel_end else "around the selection"
            raise InputError(
                f"no function or class {where}"
                + ("" if outline.has_grammar(doc.language) else f" ({lang} is not parsed)"),
                hint="put the cursor inside a function or class",
            )
        start, end, name = definition.start, definition.end, definition.name
        end = _lines_region(text, start, end)[1]
    elif kind is RefactorKind.FIX:
        problem = request.problem
        if problem is None:
            raise InputError("a fix needs the problem (a diagnostic) to fix")
        p_start = offset_of(text, problem.range.start)
        definition = _definition_at(request, p_start, kinds=("function",))
        if definition is not None and text.count("\n", definition.start, definition.end) < 80:
            start, end, name = definition.start, definition.end, definition.name
            end = _lines_region(text, start, end)[1]
        else:  # a few lines around the problem
            lines = text.splitlines(keepends=True)
            first = max(0, problem.range.start.line - 3)
            last = min(len(lines), problem.range.end.line + 4)
            start = sum(len(ln) for ln in lines[:first])
            end = start + sum(len(ln) for ln in lines[first:last])
    else:  # EXPLAIN, EDIT
        if kind is RefactorKind.EDIT and not request.instruction.strip():
            raise InputError("the edit instruction is empty", hint="say how to change the code")
        if sel_start == sel_end:
            definition = _definition_at(request, sel_start)
            if definition is not None:
                start, end, name = definition.start, _lines_region(
                    text, definition.start, definition.end)[1], definition.name
            else:
                start, end = _lines_region(text, sel_start, sel_end)
        else:
            start, end = _lines_region(text, sel_start, sel_end)
            one_line = "\n" not in text[sel_start:sel_end].rstrip("\n")
            if one_line and text[sel_start:sel_end].strip() != text[start:end].strip():
                start, end = sel_start, sel_end  # part of one line: exactly that
        if not text[start:end].strip():
            raise InputError("the selection is empty", hint="select the code to work on")
    _check_size(text, start, end)
    region = text[start:end]
    partial_line = start > 0 and text[start - 1] != "\n"
    indent = "" if partial_line else _common_indent(region)
    code = _dedent(region, indent).rstrip("\n")
    template = {
        RefactorKind.DOCSTRING: "docstring", RefactorKind.TESTS: "tests",
        RefactorKind.EXPLAIN: "explain", RefactorKind.FIX: "fix", RefactorKind.EDIT: "refactor",
    }[kind]
    # Secrets in the region never reach the model; numbered markers take their place and are
    # put back into the answer (an edit or fix must not write a marker over a secret).
    secrets = redact_restorable(code)
    values: dict[str, str] = {"language": lang, "code": secrets.text}
    if kind is RefactorKind.DOCSTRING:
        values["doc_style"] = DOC_STYLES.get(lang, "a documentation comment directly above it")
    elif kind is RefactorKind.TESTS:
        test_path, framework, hint = conventional_test_file(doc, request.root, name,
                                                            read_text=read_text)
        if doc.language == "python" and name:
            module = _python_module(Path(doc.path or "x.py"),
                                    Path(request.root) if request.root else None)
            test_import = f"from {module} import {name}"
        values.update(framework=framework, import_hint=hint,
                      source_file=Path(doc.path).name if doc.path else "the current file")
    elif kind is RefactorKind.FIX:
        assert request.problem is not None
        values["problem"] = redact_if_needed(request.problem.describe())
    elif kind is RefactorKind.EDIT:
        values["instruction"] = request.instruction.strip()
    messages = load_template(template).render(**values)
    return RefactorPlan(request, messages, start, end, indent, name, MAX_TOKENS[kind], test_path,
                        test_import, secrets)


# -- tests: where they go --------------------------------------------------------------------


def _python_module(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            rel = path.with_suffix("").relative_to(root)
        except ValueError:
            rel = Path(path.stem)
    else:
        rel = Path(path.stem)
    parts = list(rel.parts)
    if parts and parts[0] in {"src", "lib"} and len(parts) > 1:
        parts = parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or path.stem


def conventional_test_file(document: Document, root: str | None, name: str, *,
                read_text: ReadText | None = None) -> tuple[str, str, str]:
    """``(test file path, framework, import hint)`` by the language's conventions."""
    if not document.path:
        raise InputError("tests need a saved file (the buffer has no path)")
    path = Path(document.path)
    root_path = Path(root) if root else None
    lang = document.language
    stem = path.stem
    symbol = f"`{name}`" if name else "the code"
    if lang == "python":
        tests_dir = root_path / "tests" if root_path is not None else None
        if tests_dir is not None and tests_dir.is_dir():
            target = tests_dir / f"test_{stem}.py"
        else:
            target = path.with_name(f"test_{stem}.py")
        module = _python_module(path, root_path)
        return str(target), "pytest", f"Import {symbol} with `from {module} import {name or '*'}`. "
    if lang in {"javascript", "typescript", "tsx"}:
        ext = path.suffix
        target = path.with_name(f"{stem}.test{ext}")
        framework = "node:test and node:assert"
        package = root_path / "package.json" if root_path is not None else None
        manifest = (read_text(str(package)) if read_text and package else None) or ""
        for runner in ("vitest", "jest", "mocha"):
            if f'"{runner}"' in manifest:
                framework = runner
                break
        import_from = f"./{stem}" + (".js" if lang == "javascript" else "")
        return str(target), framework, f"Import {symbol} from `{import_from}`. "
    if lang == "go":
        return (str(path.with_name(f"{stem}_test.go")), "the standard testing package",
                "Use the same package clause as the code. ")
    if lang == "rust":
        return (str(path), "#[test] functions in a #[cfg(test)] mod tests",
                "Put them in `mod tests` with `use super::*;`. ")
    if lang == "java":
        parts = list(path.parts)
        if "main" in parts:
            i = len(parts) - 1 - parts[::-1].index("main")
            parts[i] = "test"
            target = Path(*parts).with_name(f"{stem}Test.java")
        else:
            target = path.with_name(f"{stem}Test.java")
        return str(target), "JUnit 5", f"Name the class `{stem}Test`. "
    ext = path.suffix or ".txt"
    return str(path.with_name(f"test_{stem}{ext}")), "the usual test framework of the language", ""


# -- generating ------------------------------------------------------------------------------


def _docstring_done(plan: RefactorPlan, answer: str) -> bool:
    """True once the answer holds the documentation (the rest would be a copy of the code)."""
    code = extract_code(answer) if "```" in answer else answer
    if (plan.request.document.language or "") == "python":
        header = re.search(r"^\s*(?:async\s+)?(?:def|class)\s+\w+.*:\s*$", code, re.M)
        if not header:
            return False
        body = code[header.end():]
        match = re.match(r'\s*[rRuUbB]*("""|\'\'\')', body)
        return match is not None and body.count(match.group(1), match.end()) >= 1
    return bool(plan.name) and re.search(
        rf"^[^\n]*\b{re.escape(plan.name)}\b[^\n]*$", code, re.M) is not None and bool(
        re.search(r"^\s*(///|//|/\*\*|\*)", code, re.M))


async def generate_answer(
    backend: Backend,
    plan: RefactorPlan,
    *,
    temperature: float = 0.0,
    max_tokens: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Stream the model's answer for ``plan``; stop as soon as the answer has what the refactor
    takes from it. ``on_progress`` gets the number of chunks received so far."""
    request = GenerationRequest(
        messages=plan.messages,
        max_tokens=min(max_tokens or plan.max_tokens, plan.max_tokens),
        temperature=temperature,
    )
    parts: list[str] = []
    stream = backend.stream(request)
    try:
        async for chunk in stream:
            if chunk.text:
                parts.append(chunk.text)
                if on_progress is not None:
                    on_progress(len(parts))
                if plan.request.kind is RefactorKind.DOCSTRING and _docstring_done(
                        plan, "".join(parts)):
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    return "".join(parts)


# -- applying --------------------------------------------------------------------------------


def apply_answer(plan: RefactorPlan, answer: str, *, read_text: ReadText | None = None
                 ) -> list[FileChange]:
    """The edits the answer implies; UnusableAnswer when it holds nothing applicable."""
    kind = plan.request.kind
    doc = plan.request.document
    if not answer.strip():
        raise UnusableAnswer("the model returned an empty answer")
    answer = plan.secrets.restore(answer)
    if kind is RefactorKind.DOCSTRING:
        return [_docstring_change(plan, answer)]
    if kind is RefactorKind.EXPLAIN:
        return [_explain_change(plan, answer)]
    if kind is RefactorKind.TESTS:
        return [_tests_change(plan, answer, read_text)]
    code = extract_code(answer)
    if not code.strip():
        raise UnusableAnswer("the model's answer has no code")
    region = doc.text[plan.start:plan.end]
    new = _reindent(code, plan.indent)
    if plan.indent == "" and plan.start > 0 and doc.text[plan.start - 1] != "\n":
        new = code.strip("\n")  # part of one line
    if region.endswith("\n") and not new.endswith("\n"):
        new += "\n"
    elif not region.endswith("\n"):
        new = new.rstrip("\n")
    edits = region_edits(doc.text, plan.start, plan.end, new)
    if not edits:
        raise UnusableAnswer("the model proposed no change")
    return [FileChange(doc.path or "", tuple(edits), doc.text)]


def _docstring_change(plan: RefactorPlan, answer: str) -> FileChange:
    doc = plan.request.document
    text = doc.text
    code = extract_code(answer) if "```" in answer else answer
    target = outline.enclosing_definition(text, doc.language, plan.start)
    if target is None or target.start != plan.start:
        raise UnusableAnswer("the function moved while generating")
    if doc.language == "python":
        literal = _python_docstring(code, plan.name)
        if literal is None:
            raise UnusableAnswer("the model's answer has no docstring")
        if target.docstring is not None:
            d_start, d_end = target.docstring
            edits = region_edits(text, d_start, d_end, _indent_literal(literal, target.body_indent
                                                                     or ""))
        elif target.body_start is not None:
            indent = target.body_indent or ""
            block = indent + _indent_literal(literal, indent) + "\n"
            edits = insertion(text, target.body_start, block)
        else:
            raise UnusableAnswer(f"{plan.name or 'the definition'} has its body on the same line; "
                                 "put it on its own line first")
        return FileChange(doc.path or "", tuple(edits), text)
    comment = _leading_comment(code, plan.name)
    if comment is None:
        raise UnusableAnswer("the model's answer has no documentation comment")
    block = "".join(target.indent + ln.strip() + "\n" if not ln.lstrip().startswith("*")
                    else target.indent + " " + ln.strip() + "\n" for ln in comment)
    existing_start = _existing_comment_start(text, target.start)
    edits = region_edits(text, existing_start, target.start, block)
    return FileChange(doc.path or "", tuple(edits), text)


def _python_docstring(code: str, name: str) -> str | None:
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


_COMMENT_LINE = re.compile(r"^\s*(///?|/\*\*?|\*/?|#)")


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
        line = text[prev_start:start - 1] if text[start - 1] == "\n" else ""
        if line.strip() and _COMMENT_LINE.match(line) and not line.lstrip().startswith("#"):
            start = prev_start
            continue
        break
    return start


def _explain_change(plan: RefactorPlan, answer: str) -> FileChange:
    doc = plan.request.document
    text = doc.text
    prose = re.sub(r"```.*?(```|$)", " ", answer, flags=re.S)  # drop any code the model added
    prose = re.sub(r"^\s*#+\s*", "", prose, flags=re.M)
    prose = " ".join(prose.split())
    if not prose:
        raise UnusableAnswer("the model's answer has no explanation")
    line_start = text.rfind("\n", 0, plan.start) + 1
    indent = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
    marker = line_comment(doc.language)
    width = max(40, 88 - len(indent) - len(marker) - 1)
    lines = textwrap.wrap(prose, width=width, break_long_words=False, break_on_hyphens=False)
    block = "".join(f"{indent}{marker} {ln}\n" for ln in lines)
    return FileChange(doc.path or "", tuple(insertion(text, line_start, block)), text)


_TEST_MARKERS = {
    "python": r"def test_|class Test",
    "javascript": r"\b(test|it|describe)\(",
    "typescript": r"\b(test|it|describe)\(",
    "tsx": r"\b(test|it|describe)\(",
    "go": r"func Test",
    "rust": r"#\[test\]",
    "java": r"@Test",
}


def _tests_change(plan: RefactorPlan, answer: str, read_text: ReadText | None) -> FileChange:
    assert plan.test_path is not None
    code = extract_code(answer).strip("\n")
    doc = plan.request.document
    marker = _TEST_MARKERS.get(doc.language or "", _TEST_MARKERS["python"])
    if not re.search(marker, code):
        raise UnusableAnswer("the model's answer has no tests")
    same_file = plan.test_path == doc.path
    existing = doc.text if same_file else (read_text(plan.test_path) if read_text else None)
    if plan.test_import and not same_file:
        code = _with_import(code, plan.test_import, plan.name)
    if existing is None:
        return FileChange(plan.test_path, tuple(insertion("", 0, code + "\n")), "", create=True)
    if doc.language == "python":
        present = {ln.strip() for ln in existing.splitlines()}
        kept = [ln for ln in code.splitlines()
                if not (re.match(r"^(import|from)\s", ln) and ln.strip() in present)]
        code = "\n".join(kept).strip("\n")
    separator = "" if not existing else ("\n\n" if existing.endswith("\n") else "\n\n\n")
    return FileChange(plan.test_path, tuple(insertion(existing, len(existing),
                                                      separator + code + "\n")), existing)


def _with_import(code: str, import_line: str, name: str) -> str:
    """``code`` with ``import_line`` added after its imports unless ``name`` is imported."""
    lines = code.splitlines()
    word = rf"\b{re.escape(name)}\b"
    if any(re.match(rf"\s*(from\s+\S+\s+)?import\s.*{word}", ln) for ln in lines):
        return code
    last_import = max((i for i, ln in enumerate(lines) if re.match(r"(import|from)\s", ln)),
                      default=-1)
    lines.insert(last_import + 1, import_line)
    return "\n".join(lines)
