"""``codeslm context FILE:LINE:COL``: show the cross-file context a completion there would get
(the snippets, why each was chosen, their tokens) and, with ``--prompt``, the exact prompt.
Nothing is generated: the model is loaded for its tokenizer and FIM format only."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..completion.request import CompletionOptions
from ..documents import offset_of, parse_location, read_document, resolve_end_of_line
from ..errors import InputError
from ..session import open_session
from ..types import CompletionMode
from . import common
from .complete import context_root_for


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "context",
        parents=parents,
        help="show the context and prompt a completion at FILE:LINE:COL would get",
        description="List the snippets of other files (and of the current file) that a "
        "completion at FILE:LINE:COL (1-based) would be given, with their kind, score and "
        "tokens, and optionally print the whole prompt. Generates nothing.",
    )
    p.add_argument("location", metavar="FILE:LINE:COL")
    p.add_argument("--budget", type=int, help="context tokens (default: context.budget_tokens)")
    p.add_argument("--prompt", action="store_true", help="also print the prompt as sent")
    p.add_argument("--json", action="store_true", help="print JSON (snippets and prompt)")
    p.add_argument(
        "--mode", choices=[m.value for m in CompletionMode], default="auto",
        help="the completion mode the prompt is planned for (default: decided from the code)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = common.load(args).config
    if args.budget is not None:
        if args.budget < 0:
            raise InputError("--budget must not be negative")
        config.context.budget_tokens = args.budget
    path, position = parse_location(args.location)
    document = read_document(path, max_bytes=config.lsp.max_document_bytes)
    position = resolve_end_of_line(document.text, position)
    offset_of(document.text, position)  # a bad position fails before the model loads
    root = context_root_for(config, document)
    if root is None:
        raise InputError("cross-file context is turned off (context.enabled = false)")
    session = open_session(config, root)
    provider = session.workspace
    assert provider is not None  # context.enabled and a root: the session opened the index

    async def body() -> dict[str, Any]:
        async with session:
            engine = session.engine
            options = CompletionOptions(mode=CompletionMode(args.mode))
            plan = await engine.plan(document, position, options)
            snippets = [
                {"path": s.path, "lines": [s.start + 1, s.end], "kind": s.source,
                 "score": round(s.score, 3), "tokens": engine.count_tokens(s.text)}
                for s in provider.last.snippets
            ]
            return {
                "root": str(provider.index.root),
                "budget_tokens": config.context.budget_tokens,
                "mode": plan.mode.value,
                "context_ms": round(provider.last.seconds * 1000, 2),
                "snippets": snippets,
                "prompt_tokens": engine.count_tokens(plan.prompt),
                "prompt": plan.prompt,
            }

    report = common.run(body)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _print_report(report, show_prompt=args.prompt)
    return 0


def _print_report(report: dict[str, Any], *, show_prompt: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    used = sum(s["tokens"] for s in report["snippets"])
    console.print(f"root {report['root']}; {len(report['snippets'])} snippet(s), {used} of "
                  f"{report['budget_tokens']} context tokens; prompt {report['prompt_tokens']} "
                  f"tokens ({report['mode']}); built in {report['context_ms']} ms", soft_wrap=True)
    if report["snippets"]:
        table = Table(show_edge=False, pad_edge=False)
        for column in ("file", "lines", "kind", "score", "tokens"):
            table.add_column(column, justify="right" if column in {"score", "tokens"} else "left")
        for s in report["snippets"]:
            table.add_row(s["path"], f"{s['lines'][0]}-{s['lines'][1]}", s["kind"],
                          f"{s['score']:.2f}", str(s["tokens"]))
        console.print(table)
    else:
        console.print("no snippet chosen (none above the relevance floor, or no budget): the "
                      "prompt holds the current file alone", soft_wrap=True)
    if show_prompt:
        sys.stdout.write("\n" + report["prompt"])
        if not report["prompt"].endswith("\n"):
            sys.stdout.write("\n")
