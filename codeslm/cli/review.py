"""``codeslm review``: advisory findings on staged changes or a revision range."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ..fileio import atomic_write, read_text_if_exists
from ..git.changes import collect
from ..git.repo import STAGED, GitRepo
from ..git.report import FORMATS, render
from ..git.review import ReviewResult, review
from ..session import open_session
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "review",
        parents=parents,
        help="advisory review of staged changes or a range",
        description="Report likely bugs, leftover debug code, swallowed errors and secrets in "
        "the added lines, as path:line findings. Advisory: exits 0 unless --strict. Under the "
        "pre-commit framework's pre-push stage the pushed range is reviewed.",
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument("--staged", action="store_true", help="review the staged changes "
                        "(the default)")
    target.add_argument("--range", dest="target", metavar="A..B",
                        help="review a revision range (A..B, A...B) or one commit")
    p.add_argument("--format", "-f", choices=FORMATS, default="text", help="output format")
    p.add_argument("--output", "-o", help="write the report to this file")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when there are findings or the review could not run")
    p.add_argument("--no-model", action="store_true", help="only the deterministic checks")
    p.add_argument("--timeout", type=float, help="seconds of model time (default: config "
                   "git.review_timeout_s)")
    p.set_defaults(run=run)


def pick_target(args: argparse.Namespace, environ: os._Environ[str] | dict[str, str]) -> str:
    """What to review: the flag, else the pre-commit framework's pushed range, else staged."""
    if args.target:
        return str(args.target)
    if not args.staged and environ.get("PRE_COMMIT_FROM_REF") and environ.get("PRE_COMMIT_TO_REF"):
        return f"{environ['PRE_COMMIT_FROM_REF']}..{environ['PRE_COMMIT_TO_REF']}"
    return STAGED


def run(args: argparse.Namespace) -> int:
    result = review_target(args, pick_target(args, os.environ))
    if result is None:
        return 0
    output = render(result, args.format)
    for note in result.notes:
        common.note(f"note: {note}")
    if args.output:
        path = Path(args.output)
        atomic_write(path, output, expected_old=read_text_if_exists(path))
    else:
        sys.stdout.write(output)
    if args.format == "text" and not args.output:
        common.note(f"{len(result.findings)} finding(s) in {len(result.reviewed)} file(s), "
                    f"{result.elapsed_s:.1f} s")
    return 1 if args.strict and result.findings else 0


def review_target(args: argparse.Namespace, target: str) -> ReviewResult | None:
    """The review of ``target``; ``None`` (after a note) when it has no changes."""
    config = common.load(args).config
    if config.git.review_model and not args.model:
        config.model = config.git.review_model
    repo = GitRepo.discover()
    changes = collect(repo, config, target)
    if changes.empty:
        common.note("nothing to review: " + (
            "no changes are staged" if target == STAGED else f"no changes in {target}"))
        return None
    timeout = args.timeout if args.timeout is not None else config.git.review_timeout_s

    async def body() -> ReviewResult:
        async with open_session(config) as session:
            deadline = time.monotonic() + timeout if timeout > 0 else None
            backend = None if args.no_model else session.backend
            return await review(changes, config, backend, deadline=deadline)

    return common.run(body)
