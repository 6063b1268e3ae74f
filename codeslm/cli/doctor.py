"""``codeslm doctor``: check the model, the runtime and FIM support, and measure speed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..session import open_session
from . import common, doctor_fit
from .doctor_checks import Check, run_checks


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "doctor", parents=parents, help="check the setup and measure speed",
        description="Check that the model is found and verified, the backend loads, FIM tokens "
        "are detected, and measure tokens/s, ending with a one-line verdict. When no model is "
        "configured, the measurements also choose the default model for this machine: the "
        "1.5B, or the 0.5B where memory is short or a keystroke would take over 0.6 s "
        "(recorded; a `model` you set always wins).",
    )
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    p.add_argument("--refit", action="store_true",
                   help="measure again which default model fits this machine (1.5B or 0.5B)")
    p.set_defaults(run=run)


def _mark(check: Check, color: bool) -> str:
    if check.ok is None:
        return "  -" if not color else "  \x1b[2m-\x1b[0m"
    if check.ok:
        return " ok" if not color else " \x1b[32mok\x1b[0m"
    return "FAIL" if not color else "\x1b[31mFAIL\x1b[0m"


def run(args: argparse.Namespace) -> int:
    fit = doctor_fit.plan(common.load(args), refit=args.refit, speed=not args.no_speed)
    config = fit.config
    color = common.color_enabled(sys.stdout)

    def show(check: Check) -> None:
        print(f"{_mark(check, color):>4}  {check.name:<11} {check.detail}", flush=True)

    async def body() -> bool:
        healthy = True
        for note in fit.notes:
            show(note)
        measured = None
        async with open_session(config) as session:
            async for check in run_checks(config, session.backend, speed=not args.no_speed):
                show(check)
                measured = check.speed or measured
                if check.ok is False:
                    healthy = False
        if measured is not None and fit.decides:
            decided = doctor_fit.decide(measured)
            show(decided)  # last: the conclusion of the measurements
            healthy = healthy and decided.ok is not False
        return healthy

    return 0 if common.run(body) else 1
