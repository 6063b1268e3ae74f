"""Built-in action ``fix``: fix a problem the editor reported (a diagnostic) in the function
around it (or a few lines around it); offered as one quick fix per diagnostic."""

from __future__ import annotations

from ..redaction import redact_if_needed
from .base import Action, FileChange, Offer, ReadText, RefactorPlan, RefactorRequest
from .regions import build_plan, problem_region
from .replace import replace_region


class Fix(Action):
    name = "fix"
    title = "Fix"
    command = "codeslm.fix"
    template = "fix"
    max_tokens = 768
    offer = Offer.DIAGNOSTIC

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        region = problem_region(request)
        assert request.problem is not None  # problem_region refuses a request without one
        return build_plan(
            self, request, region, {"problem": redact_if_needed(request.problem.describe())}
        )

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        return [replace_region(plan, answer)]
