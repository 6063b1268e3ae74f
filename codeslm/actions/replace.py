"""Applying an answer that rewrites the planned region: the code block, reindented, as
minimal edits (unchanged lines are not touched). Shared by fix, edit and user actions."""

from __future__ import annotations

from ..generate import extract_code
from ..textedit import region_edits
from .base import FileChange, RefactorPlan, UnusableAnswer
from .regions import reindent


def replace_region(plan: RefactorPlan, answer: str) -> FileChange:
    """The region of ``plan`` replaced by the code of ``answer``; UnusableAnswer when the
    answer has no code or changes nothing."""
    doc = plan.request.document
    code = extract_code(answer)
    if not code.strip():
        raise UnusableAnswer("the model's answer has no code")
    region = doc.text[plan.start : plan.end]
    new = reindent(code, plan.indent)
    if plan.indent == "" and plan.start > 0 and doc.text[plan.start - 1] != "\n":
        new = code.strip("\n")  # part of one line
    if region.endswith("\n") and not new.endswith("\n"):
        new += "\n"
    elif not region.endswith("\n"):
        new = new.rstrip("\n")
    edits = region_edits(doc.text, plan.start, plan.end, new)
    if not edits:
        raise UnusableAnswer("the model proposed no change")
    return FileChange(doc.path or "", tuple(edits), doc.text)
