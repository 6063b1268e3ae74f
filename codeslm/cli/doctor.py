"""``codeslm doctor``: check the model, the runtime and FIM support, and measure speed."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..session import open_session
from . import common
from .doctor_checks import Check, run_checks


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "doctor", parents=parents, help="check the setup and measure speed",
        description="Check that the model is found and verified, the backend loads, FIM tokens "
        "are detected, and measure tokens/s, ending with a one-line verdict.",
    )
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    p.set_defaults(run=run)


def _mark(check: Check, color: bool) -> str:
    if check.ok is None:
        return "  -" if not color else "  \x1b[2m-\x1b[0m"
    if check.ok:
        return " ok" if not color else " \x1b[32mok\x1b[0m"
    return "FAIL" if not color else "\x1b[31mFAIL\x1b[0m"


def run(args: argparse.Namespace) -> int:
    config = common.load(args).config
    color = common.color_enabled(sys.stdout)

    async def body() -> bool:
        healthy = True
        async with open_session(config) as session:
            async for check in run_checks(config, session.backend, speed=not args.no_speed):
                print(f"{_mark(check, color):>4}  {check.name:<11} {check.detail}", flush=True)
                if check.ok is False:
                    healthy = False
        return healthy

    return 0 if common.run(body) else 1
