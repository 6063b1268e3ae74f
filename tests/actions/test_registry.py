"""The registry of actions: the built-in ones, where each is offered, registering a new one."""

from __future__ import annotations

import pytest

from codeslm.actions import (
    Action,
    FileChange,
    Offer,
    OfferContext,
    ReadText,
    RefactorPlan,
    RefactorRequest,
    all_actions,
    apply_answer,
    by_command,
    generate_answer,
    get,
    plan_refactor,
    register,
)
from codeslm.actions import registry as registry_module
from codeslm.actions.regions import build_plan, selection_region
from codeslm.actions.replace import replace_region
from codeslm.backends.fake import FakeBackend
from codeslm.errors import InputError
from codeslm.textedit import apply_edits
from codeslm.types import Document, Position, Range

BUILTIN = {
    "docstring": "codeslm.docstring",
    "tests": "codeslm.generateTests",
    "explain": "codeslm.explain",
    "edit": "codeslm.editSelection",
    "type_hints": "codeslm.addTypeHints",
    "fix": "codeslm.fix",
}


def test_every_builtin_action_has_its_command_title_and_prompt() -> None:
    from codeslm.templates import load_template

    actions = all_actions()
    assert {a.name: a.command for a in actions} == BUILTIN
    for action in actions:
        assert action.builtin and action.title and action.max_tokens > 0
        assert load_template(action.template).variables  # the prompt file exists and parses
        assert by_command(action.command) is action
        assert get(action.name) is action
    assert by_command("codeslm.noSuchCommand") is None


def test_an_unknown_action_is_a_one_line_input_error_listing_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown action 'nope'") as err:
        get("nope")
    assert err.value.hint is not None and "type_hints" in err.value.hint


def _titles(context: OfferContext) -> dict[str, str]:
    return {a.name: a.offer_title(context) for a in all_actions() if a.offered(context)}


def test_where_each_builtin_is_offered() -> None:
    # The cursor in a Python function of a saved file, nothing selected.
    cursor = OfferContext("python", True, False, "area")
    assert _titles(cursor) == {
        "docstring": "Add or refresh docstring for `area`",
        "tests": "Generate tests for `area`",
        "explain": "Explain as a comment",
        "type_hints": "Add type hints for `area`",
    }
    # An unsaved buffer: no tests (they go to another file); Go: no type hints.
    assert "tests" not in _titles(OfferContext("python", False, False, "area"))
    assert "type_hints" not in _titles(OfferContext("go", True, False, "Add"))
    # A selection outside any definition: explain and edit.
    assert _titles(OfferContext("python", True, True, None)) == {
        "explain": "Explain as a comment",
        "edit": "Edit selection…",
    }
    # Nothing selected at top level: nothing. A problem: the quick fix, with its message.
    assert _titles(OfferContext("python", True, False, None)) == {}
    problem = OfferContext("python", True, False, None, diagnostic="undefined name 'x'")
    assert _titles(problem) == {"fix": "Fix: undefined name 'x'"}


class Shout(Action):
    """A test action written as a plugin would: upper-case the selection."""

    name = "shout"
    title = "Shout"
    command = "codeslm.test.shout"
    template = "refactor"
    offer = Offer.SELECTION

    def plan(self, request: RefactorRequest, read_text: ReadText | None) -> RefactorPlan:
        return build_plan(
            self, request, selection_region(request), {"instruction": "upper-case every name"}
        )

    def apply(
        self, plan: RefactorPlan, answer: str, read_text: ReadText | None
    ) -> list[FileChange]:
        return [replace_region(plan, answer)]


async def test_a_registered_action_is_listed_planned_applied_and_unique() -> None:
    action = register(Shout())
    try:
        assert all_actions()[-1] is action and get("shout") is action
        with pytest.raises(ValueError, match="registered"):
            register(Shout())
        text = "x = 1\ny = 2\n"
        request = RefactorRequest(
            "shout", Document(text, "/p/a.py", "python"), Range(Position(1, 0), Position(2, 0))
        )
        plan = plan_refactor(request)
        assert plan.action is action and "upper-case every name" in plan.messages[-1].content
        answer = await generate_answer(FakeBackend("```python\nY = 2\n```"), plan)
        (change,) = apply_answer(plan, answer)
        assert apply_edits(text, list(change.edits)) == "x = 1\nY = 2\n"
    finally:
        del registry_module._ACTIONS["shout"]
    assert "shout" not in {a.name for a in all_actions()}
