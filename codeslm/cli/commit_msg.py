"""``codeslm commit-msg``: print a Conventional Commits message for the staged changes."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..git.changes import collect
from ..git.message import STRATEGIES, MessageResult, MessageWriter
from ..git.prepare import comment_char_for
from ..git.repo import STAGED, GitRepo
from ..git.style import learn
from ..session import open_session
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "commit-msg",
        parents=parents,
        help="write a commit message for the staged changes",
        description="Print a Conventional Commits message for the staged changes (or a "
        "revision range), in the repository's own style. Lockfiles, binaries, generated, "
        "vendored and secret files are named but never sent; secrets in patches are redacted.",
    )
    p.add_argument("--range", dest="target", metavar="A..B",
                   help="describe a revision range or one commit instead of the staged changes")
    p.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="how to fit a large diff: auto (default), full, truncate, map-reduce")
    p.add_argument("--max-diff-tokens", type=int, help="token budget for the diff")
    p.add_argument("--json", action="store_true", help="print message, notes and timing as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    extra = {"git.max_diff_tokens": args.max_diff_tokens} if args.max_diff_tokens else {}
    config = common.load(args, **extra).config
    repo = GitRepo.discover()
    changes = collect(repo, config, args.target or STAGED)
    style = learn(repo.recent_commits())
    comment_char = comment_char_for(repo.config_get("core.commentChar"), "")

    async def body() -> MessageResult:
        async with open_session(config) as session:
            writer = MessageWriter(session.backend, config, comment_char=comment_char)
            return await writer.write(changes, style, strategy=args.strategy)

    result = common.run(body)
    if args.json:
        json.dump({
            "message": result.message,
            "strategy": result.strategy,
            "notes": result.notes,
            "model_calls": result.model_calls,
            "prompt_tokens": result.prompt_tokens,
            "elapsed_s": round(result.elapsed_s, 3),
        }, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    for note in result.notes:
        common.note(f"note: {note}")
    sys.stdout.write(result.message + "\n")
    return 0
