"""Built-in action ``edit``: rewrite the selection (or the function at the cursor) by the
user's instruction; the answer replaces the region as minimal edits."""

from __future__ import annotations

from ..errors import InputError
from .base import Action, FileChange, Offer, OfferContext, ReadText, RefactorPlan, RefactorRequest
from .regions import build_plan, selection_region
from .replace import replace_region


class Edit(Action):
    name = "edit"
    title = "Edit selection"
    command = "codeslm.editSelection"
    template = "refactor"
    max_tokens = 768
    offer = Offer.SELECTION
    takes_instruction = True

    def offer_title(self, context: OfferContext) -> str:
        return self.title + "…"  # the editor asks for the instruction next

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        if not request.instruction.strip():
            raise InputError("the edit instruction is empty", hint="say how to change the code")
        return build_plan(
            self, request, selection_region(request), {"instruction": request.instruction.strip()}
        )

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        return [replace_region(plan, answer)]
