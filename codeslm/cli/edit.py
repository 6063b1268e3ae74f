"""``codeslm edit FILE[:LINE[-LINE]] "instruction"``: rewrite code by an instruction (the
editor's "Edit selection") and show the change as a diff; ``--write`` applies it."""

from __future__ import annotations

import argparse
from typing import Any

from ..actions import get
from . import common
from .apply_action import add_output_flags, parse_target, run_action


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "edit",
        parents=parents,
        help="rewrite code in a file by an instruction",
        description="Rewrite FILE (or the function at LINE, or the lines LINE-LINE) by the "
        "instruction and print the change as a unified diff; --write applies it, and on a "
        "terminal you are asked. FILE - reads stdin and prints the new text.",
    )
    p.add_argument(
        "target",
        metavar="FILE[:LINE[-LINE]]",
        help="what to change (- for stdin; lines of stdin after --: -- -:3-9)",
    )
    p.add_argument("instruction", nargs="+", help="how to change it")
    add_output_flags(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = common.load(args).config
    return run_action(
        args,
        config,
        get("edit"),
        parse_target(args.target),
        instruction=" ".join(args.instruction).strip(),
    )
