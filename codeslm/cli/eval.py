"""``codeslm eval KIND``: quality evaluations. Each kind lives in ``codeslm/cli/eval_<kind>.py``
with ``register(subparsers, parents)``; kinds whose module is absent are simply not offered."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

KINDS = ["humaneval", "repo"]


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "eval", help="measure completion quality (HumanEval infilling, your own repository)",
        description="Measure completion quality on real code.",
    )
    kinds = p.add_subparsers(dest="eval_kind", metavar="KIND")
    for kind in KINDS:
        try:
            module = importlib.import_module(f"{__package__}.eval_{kind}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.eval_{kind}":
                raise
            continue
        module.register(kinds, parents)

    def usage(args: argparse.Namespace) -> int:
        p.print_help()
        return 2

    p.set_defaults(run=usage)
