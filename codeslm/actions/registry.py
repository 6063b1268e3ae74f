"""The registry of actions: the built-in ones (one module each, loaded on first use) and any a
plugin registers; user-defined actions from configuration are passed in beside them.

Adding a built-in action is one module in this package (an :class:`~.base.Action` subclass),
one prompt file in ``prompts/`` and its name in :data:`BUILTIN_MODULES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from ..errors import InputError
from .base import Action

# Built-in actions, in the order an editor lists them: module name -> class name.
BUILTIN_MODULES = {
    "docstring": "Docstring",
    "tests": "Tests",
    "explain": "Explain",
    "edit": "Edit",
    "type_hints": "TypeHints",
    "fix": "Fix",
}

_ACTIONS: dict[str, Action] = {}
_loaded = False


def register(action: Action, *, replace: bool = False) -> Action:
    """Add ``action`` to the registry; ValueError when its name or command is taken."""
    if not action.name or not action.command:
        raise ValueError("an action needs a name and a command")
    if not replace:
        for other in _ACTIONS.values():
            if action.name == other.name or action.command == other.command:
                raise ValueError(f"action {action.name!r} ({action.command}) is registered")
    _ACTIONS[action.name] = action
    return action


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module, cls in BUILTIN_MODULES.items():
        action = getattr(importlib.import_module(f"{__package__}.{module}"), cls)()
        if action.name not in _ACTIONS:
            register(action)


def all_actions(extra: Iterable[Action] = ()) -> list[Action]:
    """Every registered action, then ``extra`` (user-defined ones) whose names are free."""
    _load_builtins()
    out = list(_ACTIONS.values())
    names = {a.name for a in out}
    out.extend(a for a in extra if a.name not in names)
    return out


def get(name: str, extra: Iterable[Action] = ()) -> Action:
    """The action called ``name`` (a registered one, else one of ``extra``); InputError with
    the known names when there is none."""
    actions = all_actions(extra)
    for action in actions:
        if action.name == str(name):
            return action
    known = ", ".join(a.name for a in actions)
    raise InputError(f"unknown action {str(name)!r}", hint=f"known actions: {known}")


def by_command(command: str) -> Action | None:
    """The registered action the language server command ``command`` runs, if any."""
    return next((a for a in all_actions() if a.command == command), None)
