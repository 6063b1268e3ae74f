"""Actions: model-driven changes of existing code, built-in and user-defined.

The surfaces (the language server's code actions, ``codeslm action``/``codeslm edit``) find an
action in the registry, then call :func:`plan_refactor`, :func:`generate_answer` and
:func:`apply_answer`; everything here is independent of the protocol and the terminal.

- :mod:`.base`: the values (:class:`RefactorRequest`, :class:`RefactorPlan`,
  :class:`FileChange`...) and :class:`Action`, the base of every action.
- :mod:`.registry`: ``register``, ``get``, ``all_actions``.
- one module per built-in action: :mod:`.docstring`, :mod:`.tests`, :mod:`.explain`,
  :mod:`.fix`, :mod:`.edit`, :mod:`.type_hints`.
- :mod:`.user`: actions from ``[[actions]]`` tables of the configuration.
- helpers: :mod:`.regions` (what code a plan is about), :mod:`.replace`, :mod:`.testfiles`,
  :mod:`.generation`.

Edits are minimal: an answer for a region is diffed against the region
(:mod:`codeslm.textedit`), so unchanged lines are not touched.
"""

from __future__ import annotations

from collections.abc import Iterable

from .base import (
    Action,
    FileChange,
    Offer,
    OfferContext,
    Problem,
    ReadText,
    RefactorPlan,
    RefactorRequest,
    UnusableAnswer,
)
from .generation import generate_answer
from .registry import all_actions, by_command, get, register

__all__ = [
    "Action",
    "FileChange",
    "Offer",
    "OfferContext",
    "Problem",
    "ReadText",
    "RefactorPlan",
    "RefactorRequest",
    "UnusableAnswer",
    "all_actions",
    "apply_answer",
    "by_command",
    "generate_answer",
    "get",
    "plan_refactor",
    "register",
]


def plan_refactor(
    request: RefactorRequest, *, read_text: ReadText | None = None, extra: Iterable[Action] = ()
) -> RefactorPlan:
    """Decide the region and the messages for ``request`` with the action it names (built-in,
    else one of ``extra``); InputError when it cannot apply (no function at the cursor, empty
    instruction, unknown action...)."""
    return get(request.kind, extra).plan(request, read_text)


def apply_answer(
    plan: RefactorPlan, answer: str, *, read_text: ReadText | None = None
) -> list[FileChange]:
    """The edits the answer implies; UnusableAnswer when it holds nothing applicable. Secrets
    the plan hid from the model are put back first."""
    if not answer.strip():
        raise UnusableAnswer("the model returned an empty answer")
    action = plan.action or get(plan.request.kind)
    return action.apply(plan, plan.secrets.restore(answer), read_text)
