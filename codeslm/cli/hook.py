"""``codeslm hook install|uninstall|run``: git hooks that help and never get in the way.

``run prepare-commit-msg`` fails open: a missing model, a backend that is down, a bug or the
timeout (``git.timeout_s``) leave the commit going ahead with one note on stderr and exit 0,
unless ``--strict``. The timeout is hard: a watchdog ends the process shortly after it even
if the model is stuck in a call that cannot be interrupted (loading, one long batch).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any, NoReturn

from ..config import Config
from ..errors import CodeslmError
from ..git import install as installer
from ..git.changes import collect
from ..git.commit_hook import HookOutcome, finish, start
from ..git.repo import GitRepo, pushed_ranges
from ..git.report import as_text
from ..git.review import review
from . import common

log = logging.getLogger(__name__)

_GRACE_S = 1.5  # past the timeout, the watchdog ends the process


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "hook",
        parents=parents,
        help="install or run codeslm's git hooks",
        description="Git hooks: prepare-commit-msg writes a commit message for a plain "
        "`git commit`; pre-push runs an advisory review. Both fail open.",
    )
    sub = p.add_subparsers(dest="hook_command", metavar="ACTION", required=True)
    inst = sub.add_parser("install", parents=parents, help="install a hook in this repository")
    inst.add_argument("--hook", choices=installer.HOOKS, default="prepare-commit-msg")
    inst.add_argument(
        "--force", action="store_true", help="replace another tool's hook (it is kept as a backup)"
    )
    inst.add_argument(
        "--chain", action="store_true", help="keep another tool's hook and run it first"
    )
    inst.add_argument(
        "--strict", action="store_true", help="let a codeslm failure stop the commit or push"
    )
    inst.set_defaults(run=run_install)
    uninst = sub.add_parser("uninstall", parents=parents, help="remove a codeslm hook")
    uninst.add_argument("--hook", choices=installer.HOOKS, default="prepare-commit-msg")
    uninst.set_defaults(run=run_uninstall)
    run_p = sub.add_parser("run", parents=parents, help="run a hook (git calls this)")
    run_sub = run_p.add_subparsers(dest="hook_name", metavar="HOOK", required=True)
    pcm = run_sub.add_parser(
        "prepare-commit-msg", parents=parents, help="write a message into git's message file"
    )
    pcm.add_argument("message_file")
    pcm.add_argument("source", nargs="?", default="")
    pcm.add_argument("commit", nargs="?", default="")
    pcm.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when no message was written because of a failure",
    )
    pcm.add_argument(
        "--timeout", type=float, help="seconds before giving up (default: config git.timeout_s)"
    )
    pcm.set_defaults(run=run_prepare_commit_msg)
    push = run_sub.add_parser(
        "pre-push", parents=parents, help="review the commits being pushed (refs on stdin)"
    )
    push.add_argument("remote", nargs="?", default="origin")
    push.add_argument("url", nargs="?", default="")
    push.add_argument("--strict", action="store_true", help="exit 1 on findings")
    push.set_defaults(run=run_pre_push)


def run_install(args: argparse.Namespace) -> int:
    change = installer.install(
        GitRepo.discover(), args.hook, force=args.force, chain=args.chain, strict=args.strict
    )
    print(change.describe())
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    print(installer.uninstall(GitRepo.discover(), args.hook).describe())
    return 0


def _exit_now(code: int) -> NoReturn:
    """Leave without tearing the model down: nothing is pending, and teardown costs time."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _start_watchdog(seconds: float, strict: bool) -> threading.Timer:
    def fire() -> None:
        common.note(
            f"codeslm: no commit message (gave up after {seconds - _GRACE_S:.0f} s); "
            "the commit goes on"
            if not strict
            else "codeslm: no commit message (timed out)"
        )
        _exit_now(1 if strict else 0)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


def run_prepare_commit_msg(args: argparse.Namespace) -> int:
    """Entry point; ends the process itself (see :func:`_exit_now`)."""
    _exit_now(prepare_commit_msg(args))


def prepare_commit_msg(args: argparse.Namespace) -> int:
    """The hook body with fail-open handling; returns the exit code."""
    started = time.monotonic()
    strict = bool(args.strict)
    try:
        config = common.load(args).config
        if not config.git.hook:
            log.info("git.hook is off; nothing to do")
            return 0
        timeout = args.timeout if args.timeout is not None else config.git.timeout_s
        deadline = started + timeout
        watchdog = _start_watchdog(timeout + _GRACE_S, strict)
        try:
            outcome = _write_message(args, config, deadline)
        finally:
            watchdog.cancel()
        log.info(
            "prepare-commit-msg: %s (%s)",
            "written" if outcome.written else "skipped",
            outcome.detail,
        )
        return 0
    except TimeoutError:
        reason = f"gave up after {time.monotonic() - started:.1f} s (git.timeout_s)"
    except CodeslmError as exc:
        reason = exc.message
    except Exception as exc:  # a hook must not block a commit on a bug either
        log.debug("prepare-commit-msg failed", exc_info=True)
        reason = f"internal error: {type(exc).__name__}: {exc}"
    common.note(
        f"codeslm: no commit message ({reason}); "
        + ("stopping the commit (--strict)" if strict else "the commit goes on")
    )
    return 1 if strict else 0


def _write_message(args: argparse.Namespace, config: Config, deadline: float) -> HookOutcome:
    """A prepared message when the store has one (no model, no backend created), else one
    written with the model before ``deadline``."""
    repo = GitRepo.discover()

    def load_early() -> None:
        # A stored message would make this load unneeded; the daemon then idles out. That is
        # rare: a preparer keeps the daemon warm, and the store is only known after git's work.
        from ..backends import prestart

        prestart(config)

    step = start(repo, config, Path(args.message_file), args.source or None, on_write=load_early)
    if isinstance(step, HookOutcome):
        return step
    from ..session import open_session  # only a miss needs a backend (import time counts here)

    async def body() -> HookOutcome:
        async with open_session(config) as session:
            return await asyncio.wait_for(
                finish(step, config, session.backend, deadline=deadline),
                max(0.01, deadline - time.monotonic()),
            )

    return common.run(body)


def run_pre_push(args: argparse.Namespace) -> int:
    """Review what is being pushed; advisory unless ``--strict``."""
    strict = bool(args.strict)
    refs = sys.stdin.read() if not sys.stdin.isatty() else ""
    try:
        config = common.load(args).config
        if not config.git.hook:
            return 0
        if config.git.review_model:
            config.model = config.git.review_model
        repo = GitRepo.discover()
        ranges = pushed_ranges(repo, refs, args.remote)
        from ..session import open_session

        found = 0
        for target in ranges:
            changes = collect(repo, config, target)
            if changes.empty:
                continue

            async def body(changes: Any = changes) -> Any:
                async with open_session(config) as session:
                    return await review(
                        changes,
                        config,
                        session.backend,
                        deadline=time.monotonic() + config.git.review_timeout_s,
                    )

            result = common.run(body)
            found += len(result.findings)
            if result.findings:
                common.note(f"codeslm review of {target} (advisory):")
                sys.stderr.write(as_text(result))
            for note in result.notes:
                common.note(f"note: {note}")
        return 1 if strict and found else 0
    except CodeslmError as exc:
        common.note(
            f"codeslm: no review ({exc.message}); the push goes on"
            if not strict
            else f"codeslm: no review ({exc.message})"
        )
        return 1 if strict else 0
