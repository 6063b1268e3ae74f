"""``codeslm complete FILE:LINE:COL``: print the completion at a position (1-based, as compilers
print them)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..completion.request import CompletionOptions
from ..config import Config
from ..documents import parse_location, read_document, resolve_end_of_line
from ..session import open_session
from ..types import Completion, CompletionMode, Document
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "complete",
        parents=parents,
        help="complete the code at FILE:LINE:COL",
        description="Print the completion the model proposes at FILE:LINE:COL (1-based). "
        "FILE:LINE completes at the end of that line.",
    )
    p.add_argument("location", metavar="FILE:LINE:COL")
    p.add_argument("--json", action="store_true", help="print JSON: text, range, latency, tokens")
    p.add_argument(
        "--mode", choices=[m.value for m in CompletionMode], default="auto",
        help="single-line, multi-line, or decided from the code around the cursor (default)",
    )
    p.add_argument("--max-tokens", type=int, help="limit the generated tokens")
    p.add_argument("--no-context", action="store_true", help="use only the current file")
    p.set_defaults(run=run)


def context_root_for(config: Config, document: Document) -> Path | None:
    """The workspace whose index gives ``document`` its cross-file context, or None.

    The workspace is the git repository around the file (else the current directory when the
    file is under it, else the file's directory); the session loads its on-disk index and
    brings it up to date (only changed files are re-parsed; ``codeslm index`` does the first
    build with a progress bar).
    """
    if not config.context.enabled or document.path is None:
        return None
    from .index import workspace_root

    path = Path(document.path).resolve()
    cwd = Path.cwd().resolve()
    return workspace_root(path.parent, fallback=cwd if path.is_relative_to(cwd) else None)


def run(args: argparse.Namespace) -> int:
    loaded = common.load(args)
    config = loaded.config
    path, position = parse_location(args.location)
    document = read_document(path, max_bytes=config.lsp.max_document_bytes)
    position = resolve_end_of_line(document.text, position)
    # Validate the position before paying for a model load.
    from ..documents import offset_of

    offset_of(document.text, position)
    mode = CompletionMode(args.mode)

    async def body() -> Completion:
        root = None if args.no_context else context_root_for(config, document)
        async with open_session(config, root) as session:
            options = CompletionOptions(mode=mode, use_context=not args.no_context,
                                        max_tokens=args.max_tokens)
            return await session.engine.complete(document, position, options)

    completion = common.run(body)
    if args.json:
        print(json.dumps(_as_json(completion, config), indent=2))
    else:
        sys.stdout.write(completion.text)
        if completion.text and not completion.text.endswith("\n"):
            sys.stdout.write("\n")
    return 0


def _as_json(c: Completion, config: Config) -> dict[str, Any]:
    def pos(p: Any) -> dict[str, int]:
        return {"line": p.line + 1, "column": p.character + 1}

    return {
        "text": c.text,
        "range": {"start": pos(c.range.start), "end": pos(c.range.end)},
        "mode": c.mode.value,
        "latency_s": round(c.latency_s, 4),
        "tokens": {
            "prompt": c.prompt_tokens,
            "completion": c.completion_tokens,
            "cached_prompt": c.cached_prompt_tokens,
        },
        "finish_reason": c.finish_reason,
        "model": config.model,
        "backend": config.backend,
    }
