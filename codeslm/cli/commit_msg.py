"""``codeslm commit-msg``: print a Conventional Commits message for the staged changes.

``--prepare`` writes the message the prepare-commit-msg hook would write and stores it under
the git dir (:mod:`codeslm.git.prepared`), so that the next plain ``git commit`` shows it at
once; git's message file is not touched. Without it, a stored message is printed instead of
calling the model when the prompt would have been the same (see :func:`_reusable`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..config import Config
from ..errors import InputError
from ..git import ahead
from ..git.changes import ChangeSet, collect
from ..git.message import STRATEGIES, MessageResult, MessageWriter
from ..git.prepare import comment_char_for
from ..git.prepared import Prepared, Store, key_for
from ..git.repo import STAGED, GitRepo
from ..git.style import learn
from ..session import open_session
from . import common

# The hook lists this many files before grouping them (codeslm.git.message._STAT_LINES_HOOK).
_HOOK_STAT_LINES = 12


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "commit-msg",
        parents=parents,
        help="write a commit message for the staged changes",
        description="Print a Conventional Commits message for the staged changes (or a "
        "revision range), in the repository's own style. Lockfiles, binaries, generated, "
        "vendored and secret files are named but never sent; secrets in patches are redacted.",
    )
    p.add_argument(
        "--range",
        dest="target",
        metavar="A..B",
        help="describe a revision range or one commit instead of the staged changes",
    )
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="how to fit a large diff: auto (default), full, truncate, map-reduce",
    )
    p.add_argument("--max-diff-tokens", type=int, help="token budget for the diff")
    p.add_argument(
        "--prepare",
        action="store_true",
        help="write the message the git hook would write and keep it for the next "
        "`git commit` (which then shows it without calling the model)",
    )
    p.add_argument("--json", action="store_true", help="print message, notes and timing as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.prepare:
        return _prepare(args)
    extra = {"git.max_diff_tokens": args.max_diff_tokens} if args.max_diff_tokens else {}
    config = common.load(args, **extra).config
    repo = GitRepo.discover()
    changes = collect(repo, config, args.target or STAGED)
    comment_char = comment_char_for(repo.config_get("core.commentChar"), "")
    stored = _reusable(args, repo, config, changes, comment_char)
    if stored is not None:
        result = MessageResult(stored.message, stored.message, stored.strategy, stored.notes)
        return _print(args, result, prepared=True)
    style = learn(repo.recent_commits())

    async def body() -> MessageResult:
        async with open_session(config) as session:
            writer = MessageWriter(session.backend, config, comment_char=comment_char)
            return await writer.write(changes, style, strategy=args.strategy)

    return _print(args, common.run(body), prepared=False)


def _reusable(
    args: argparse.Namespace, repo: GitRepo, config: Config, changes: ChangeSet, comment_char: str
) -> Prepared | None:
    """A stored hook message that is exactly what this command would write: same staged
    change and settings (the key), the whole diff sent (``full``), a file list short enough
    that the hook showed all of it, and a budget no smaller than the hook's."""
    if args.target or args.strategy != "auto" or changes.empty:
        return None
    if config.git.max_diff_tokens < config.git.hook_max_diff_tokens:
        return None
    if len(changes.all_files()) > _HOOK_STAT_LINES:
        return None
    found = Store.of(repo).get(key_for(repo.head(), changes, config, comment_char=comment_char))
    return found if found is not None and found.strategy == "full" else None


def _prepare(args: argparse.Namespace) -> int:
    if args.target or args.strategy != "auto" or args.max_diff_tokens:
        raise InputError(
            "--prepare writes the hook's message for the staged changes",
            hint="drop --range, --strategy and --max-diff-tokens",
        )
    config = common.load(args).config
    repo = GitRepo.discover()
    plan = ahead.plan(repo, config)
    if plan is None:
        raise InputError("there are no changes to describe", hint="stage changes with git add")

    async def body() -> tuple[Prepared, bool]:
        async with open_session(config) as session:
            return await ahead.produce(plan, config, session.backend)

    entry, fresh = common.run(body)
    common.note(
        f"prepared for the next `git commit` ({'written now' if fresh else 'already'}"
        f" {plan.store.path(plan.key)})"
    )
    result = MessageResult(
        entry.message, entry.message, entry.strategy, entry.notes, elapsed_s=entry.elapsed_s
    )
    return _print(args, result, prepared=not fresh)


def _print(args: argparse.Namespace, result: MessageResult, *, prepared: bool) -> int:
    if args.json:
        json.dump(
            {
                "message": result.message,
                "strategy": result.strategy,
                "notes": result.notes,
                "model_calls": result.model_calls,
                "prompt_tokens": result.prompt_tokens,
                "elapsed_s": round(result.elapsed_s, 3),
                "prepared": prepared,
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0
    for note in result.notes:
        common.note(f"note: {note}")
    if prepared:
        common.note("note: prepared earlier for these staged changes (no model call)")
    sys.stdout.write(result.message + "\n")
    return 0
