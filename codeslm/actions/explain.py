"""Built-in action ``explain``: a plain-words explanation of the selection (or the function at
the cursor), inserted as a wrapped comment above it. Any code in the answer is dropped."""

from __future__ import annotations

import re
import textwrap

from ..documents import line_comment
from ..textedit import insertion
from .base import (
    Action,
    FileChange,
    Offer,
    OfferContext,
    ReadText,
    RefactorPlan,
    RefactorRequest,
    UnusableAnswer,
)
from .regions import build_plan, selection_region


class Explain(Action):
    name = "explain"
    title = "Explain as a comment"
    command = "codeslm.explain"
    template = "explain"
    max_tokens = 200
    offer = Offer.ALWAYS

    def offered(self, context: OfferContext) -> bool:
        return context.selection or context.definition is not None

    def offer_title(self, context: OfferContext) -> str:
        return self.title

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        return build_plan(self, request, selection_region(request), {})

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        doc = plan.request.document
        return [comment_above(doc.text, doc.path or "", doc.language, plan.start, answer)]


def comment_above(
    text: str, path: str, language: str | None, start: int, answer: str
) -> FileChange:
    """The prose of ``answer`` as a comment block above the line of ``start``, wrapped to 88
    columns with that line's indentation."""
    prose = re.sub(r"```.*?(```|$)", " ", answer, flags=re.S)  # drop any code the model added
    prose = re.sub(r"^\s*#+\s*", "", prose, flags=re.M)
    prose = " ".join(prose.split())
    if not prose:
        raise UnusableAnswer("the model's answer has no explanation")
    line_start = text.rfind("\n", 0, start) + 1
    indent = re.match(r"[ \t]*", text[line_start:]).group(0)  # type: ignore[union-attr]
    marker = line_comment(language)
    width = max(40, 88 - len(indent) - len(marker) - 1)
    lines = textwrap.wrap(prose, width=width, break_long_words=False, break_on_hyphens=False)
    block = "".join(f"{indent}{marker} {ln}\n" for ln in lines)
    return FileChange(path, tuple(insertion(text, line_start, block)), text)
