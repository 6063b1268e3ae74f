"""Built-in action ``tests``: unit tests for the function or class at the cursor, appended to
(or creating) the conventional test file of the language (:mod:`.testfiles`)."""

from __future__ import annotations

import re
from pathlib import Path

from ..generate import extract_code
from ..textedit import insertion
from .base import Action, FileChange, Offer, ReadText, RefactorPlan, RefactorRequest, UnusableAnswer
from .regions import build_plan, definition_region
from .testfiles import conventional_test_file, python_module

# What a test looks like in each language: an answer without one is not tests.
_TEST_MARKERS = {
    "python": r"def test_|class Test",
    "javascript": r"\b(test|it|describe)\(",
    "typescript": r"\b(test|it|describe)\(",
    "tsx": r"\b(test|it|describe)\(",
    "go": r"func Test",
    "rust": r"#\[test\]",
    "java": r"@Test",
}


class Tests(Action):
    name = "tests"
    title = "Generate tests"
    command = "codeslm.generateTests"
    template = "tests"
    max_tokens = 768
    offer = Offer.CURSOR
    needs_path = True

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        doc = request.document
        region = definition_region(request)
        test_path, framework, hint = conventional_test_file(
            doc, request.root, region.name, read_text=read_text
        )
        test_import = None
        if doc.language == "python" and region.name:
            module = python_module(
                Path(doc.path or "x.py"), Path(request.root) if request.root else None
            )
            test_import = f"from {module} import {region.name}"
        values = {
            "framework": framework,
            "import_hint": hint,
            "source_file": Path(doc.path).name if doc.path else "the current file",
        }
        return build_plan(
            self, request, region, values, test_path=test_path, test_import=test_import
        )

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
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
            return [
                FileChange(plan.test_path, tuple(insertion("", 0, code + "\n")), "", create=True)
            ]
        if doc.language == "python":
            present = {ln.strip() for ln in existing.splitlines()}
            kept = [
                ln
                for ln in code.splitlines()
                if not (re.match(r"^(import|from)\s", ln) and ln.strip() in present)
            ]
            code = "\n".join(kept).strip("\n")
        separator = "" if not existing else ("\n\n" if existing.endswith("\n") else "\n\n\n")
        edits = insertion(existing, len(existing), separator + code + "\n")
        return [FileChange(plan.test_path, tuple(edits), existing)]


def _with_import(code: str, import_line: str, name: str) -> str:
    """``code`` with ``import_line`` added after its imports unless ``name`` is imported."""
    lines = code.splitlines()
    word = rf"\b{re.escape(name)}\b"
    if any(re.match(rf"\s*(from\s+\S+\s+)?import\s.*{word}", ln) for ln in lines):
        return code
    last_import = max(
        (i for i, ln in enumerate(lines) if re.match(r"(import|from)\s", ln)), default=-1
    )
    lines.insert(last_import + 1, import_line)
    return "\n".join(lines)
