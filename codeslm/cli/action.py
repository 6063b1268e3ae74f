"""``codeslm action NAME FILE:LINE[-LINE]``: run any action (built-in or from the config's
``[[actions]]``) on a file and show the change as a diff; ``--list`` lists them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..actions import Action, all_actions, get
from ..actions.user import UserAction, load_user_actions
from ..errors import ConfigError, InputError
from . import common
from .apply_action import add_output_flags, parse_target, run_action


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "action",
        parents=parents,
        help="run an action (docstring, tests, fix, a configured one...) on a file",
        description="Run an action on FILE at LINE (the function there) or on LINE-LINE and "
        "print the change as a unified diff; --write applies it. Built-in actions and the "
        "[[actions]] of the configuration are both available (--list shows them).",
    )
    p.add_argument("name", nargs="?", help="the action (see --list)")
    p.add_argument(
        "target",
        nargs="?",
        metavar="FILE[:LINE[-LINE]]",
        help="the file (- for stdin) and the line or lines to work on",
    )
    p.add_argument("instruction", nargs="*", help="what to do (for the edit action)")
    p.add_argument("--list", action="store_true", help="list the actions and exit")
    p.add_argument("--problem", help="the problem to fix (for actions offered on diagnostics)")
    add_output_flags(p)
    p.set_defaults(run=run)


def configured_actions(args: argparse.Namespace) -> list[UserAction]:
    """The user-defined actions of the config files in effect; ConfigError on a mistake."""
    files = common.load(args).files
    actions, errors = load_user_actions(files, reserved=[a.name for a in all_actions()])
    if errors:
        raise ConfigError(errors[0])
    return actions


def run(args: argparse.Namespace) -> int:
    user = configured_actions(args)
    if args.list:
        return _list(all_actions(user), as_json=args.json)
    if not args.name or not args.target:
        raise InputError("give an action and FILE:LINE", hint="codeslm action --list")
    action = get(args.name, user)
    config = common.load(args).config
    return run_action(
        args,
        config,
        action,
        parse_target(args.target),
        instruction=" ".join(args.instruction).strip(),
        problem=args.problem,
    )


def _list(actions: list[Action], *, as_json: bool) -> int:
    rows = [
        {
            "name": a.name,
            "title": a.title,
            "offered": a.offer.value,
            "source": "built-in" if a.builtin else getattr(a, "origin", "config"),
            "command": a.command,
        }
        for a in actions
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        print(f"{row['name']:<{width}}  {row['title']}  ({row['offered']}; {row['source']})")
    return 0
