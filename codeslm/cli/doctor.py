"""``codeslm doctor``: check the model, the runtime and FIM support, and measure speed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import Any

from ..backends.base import Backend
from ..config import measured_speed
from ..errors import CodeslmError
from ..session import open_session
from . import common, doctor_fit
from .doctor_checks import Check, Speed, run_checks

log = logging.getLogger(__name__)


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


async def _daemon_absent(backend: Backend) -> bool:
    """Whether ``backend`` is the model daemon's client and no daemon serves its model yet."""
    from ..backends.daemon import runtime
    from ..backends.daemon.client import DaemonBackend

    if not isinstance(backend, DaemonBackend):
        return False
    try:
        files = await asyncio.to_thread(backend.files)
    except CodeslmError:  # the model is missing: the checks say so
        return False
    return await asyncio.to_thread(runtime.ping, files) is None


async def _stop_daemon(backend: Backend) -> None:
    from ..backends.daemon import runtime
    from ..backends.daemon.client import DaemonBackend

    if isinstance(backend, DaemonBackend):
        await asyncio.to_thread(runtime.stop, backend.files())


async def _keep_speed(backend: Backend, measured: Speed) -> None:
    """Record the local model's measured speed: the commit-message hook sizes its prompt from
    it to finish within ``git.timeout_s`` (:mod:`codeslm.config.measured_speed`)."""
    name = (await backend.model_info()).name
    try:
        measured_speed.write(name, measured.prefill_tps, measured.decode_tps)
    except OSError as exc:  # only the hook's sizing is lost: it keeps its fixed diff budget
        log.info("the measured speed was not recorded: %s", exc)


async def _prepare_hook(backend: Backend) -> Check:
    """Evaluate the commit prompt's shared head now, while the model is loaded anyway: read
    from disk later, the first `git commit` with the hook is ~2 s quicker on a 1.5B."""
    from ..git.message import evaluate_head

    started = time.perf_counter()
    try:
        await evaluate_head(backend)
    except CodeslmError as exc:
        return Check("git hook", None, f"the commit prompt's head was not prepared: {exc}")
    return Check("git hook", None, "the commit prompt's shared head is evaluated and kept "
                 f"({time.perf_counter() - started:.1f} s; read from disk the next time)")


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
        measured = decided = None
        async with open_session(config) as session:
            started_here = fit.decides and await _daemon_absent(session.backend)
            async for check in run_checks(config, session.backend, speed=not args.no_speed):
                show(check)
                measured = check.speed or measured
                if check.ok is False:
                    healthy = False
            if measured is not None and fit.decides:
                decided = doctor_fit.decide(measured)
            if measured is not None and config.backend == "llama-cpp":
                await _keep_speed(session.backend, measured)
                # A 1.5B measured only to be turned down would get a head no commit reads.
                if decided is None or not doctor_fit.small_recorded():
                    show(await _prepare_hook(session.backend))
        if decided is not None:
            show(decided)  # last: the conclusion of the measurements
            healthy = healthy and decided.ok is not False
            if started_here and doctor_fit.small_recorded():
                # The 1.5B was loaded only to be measured, on a machine now found too small for
                # it: do not leave it holding ~1.3 GiB until the daemon's idle exit.
                await _stop_daemon(session.backend)
        return healthy

    return 0 if common.run(body) else 1
