"""The former home of refactors, kept for the names other code imports: refactors are now
actions in :mod:`codeslm.actions` (one module per action, a registry, user-defined ones)."""

from __future__ import annotations

from enum import StrEnum

from .actions import (
    FileChange,
    Problem,
    ReadText,
    RefactorPlan,
    RefactorRequest,
    UnusableAnswer,
    apply_answer,
    generate_answer,
    plan_refactor,
)
from .actions.docstring import DOC_STYLES
from .actions.testfiles import conventional_test_file


class RefactorKind(StrEnum):
    """The built-in actions by name (``RefactorRequest.kind`` takes any action's name)."""

    DOCSTRING = "docstring"
    TESTS = "tests"
    EXPLAIN = "explain"
    FIX = "fix"
    EDIT = "edit"
    TYPE_HINTS = "type_hints"


__all__ = [
    "DOC_STYLES",
    "FileChange",
    "Problem",
    "ReadText",
    "RefactorKind",
    "RefactorPlan",
    "RefactorRequest",
    "UnusableAnswer",
    "apply_answer",
    "conventional_test_file",
    "generate_answer",
    "plan_refactor",
]
