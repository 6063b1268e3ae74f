"""The first suggestion at a new place, through a real ``codeslm lsp``: no dwell vs a dwell.

For each of N standard-library files: the file is opened (``didOpen``), the cursor placed
mid-line on a seeded line (the line cut at the cursor), then an *invoked* inline completion is
requested, either at once ("no dwell") or after the editor rested there for ``--dwell`` seconds
and told the server so with ``codeslm/warm`` (as the shipped editor configurations do on cursor
hold). Reported: p50/p95 of the request's latency per configuration, run side by side in one
process, each configuration with its own server:

- ``before``: in-process model, prefix reuse only, no quick first window, no warm-ups;
- ``after``: the defaults (the shared daemon, KV insertion, warm-ups, the quick first window,
  alternatives within ``lsp.candidates_budget_ms``); ``no-quick``, ``all-alternatives`` and
  ``in-process`` each change one of them. How many suggestions each answer held is reported.

Usage: python benchmarks/new_place.py [--model NAME] [--files 6] [--dwell 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import git_commit, machine, percentile  # noqa: E402
from latency import cut_document, pick_spots  # noqa: E402
from lsprotocol import types as lsp  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

CONFIGS: dict[str, dict[str, str]] = {
    "before": {"CODESLM_DAEMON_ENABLED": "0", "CODESLM_COMPLETION_KV_REUSE": "prefix",
               "CODESLM_LSP_QUICK_FIRST": "0", "CODESLM_LSP_WARM_AHEAD": "0"},
    "after": {},
    # the defaults without the quick first window (which part helps, which costs)
    "no-quick": {"CODESLM_LSP_QUICK_FIRST": "0"},
    # the defaults with the quick first window (off by default since 5c6d495)
    "quick": {"CODESLM_LSP_QUICK_FIRST": "1"},
    "in-process": {"CODESLM_DAEMON_ENABLED": "0"},
    # the defaults, but every invoked request makes all its alternatives (no time budget)
    "all-alternatives": {"CODESLM_LSP_CANDIDATES_BUDGET_MS": "0"},
}


async def run_config(name: str, model: str, spots: list[Any], dwell: float,
                     workdir: Path) -> dict[str, list[float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update(NO_COLOR="1", **CONFIGS[name])
    if os.environ.get("CODESLM_RUNTIME_DIR"):
        env["CODESLM_RUNTIME_DIR"] = os.environ["CODESLM_RUNTIME_DIR"]
    client = LanguageClient("new-place-bench", "1")
    await client.start_io(sys.executable, "-m", "codeslm", "lsp", "--model", model, env=env)
    statuses: list[Any] = []
    client.feature("codeslm/status")(lambda params: statuses.append(params))
    await client.initialize_async(lsp.InitializeParams(
        capabilities=lsp.ClientCapabilities(text_document=lsp.TextDocumentClientCapabilities(
            inline_completion=lsp.InlineCompletionClientCapabilities())),
        root_uri=workdir.as_uri(), process_id=os.getpid()))
    client.initialized(lsp.InitializedParams())
    deadline = time.monotonic() + 300
    while not any(getattr(s, "state", None) in ("ready", "slow") for s in statuses):
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}: the server did not become ready")
        await asyncio.sleep(0.1)
    out: dict[str, list[float]] = {"no dwell": [], f"{dwell:g} s dwell": []}
    items: dict[str, list[int]] = {kind: [] for kind in out}
    for kind in out:
        for i, spot in enumerate(spots):
            doc, pos = cut_document(spot, "")
            path = workdir / f"{kind.replace(' ', '_')}_{i}_{spot.path.name}"
            path.write_text(doc.text)
            uri = path.as_uri()
            client.text_document_did_open(lsp.DidOpenTextDocumentParams(
                text_document=lsp.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                   text=doc.text)))
            position = lsp.Position(line=pos.line, character=pos.character)
            if kind != "no dwell":
                client.protocol.notify("codeslm/warm", {"textDocument": {"uri": uri},
                                                         "position": {"line": pos.line,
                                                                      "character": pos.character}})
                await asyncio.sleep(dwell)
            started = time.monotonic()
            answer = await client.text_document_inline_completion_async(lsp.InlineCompletionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri), position=position,
                context=lsp.InlineCompletionContext(
                    trigger_kind=lsp.InlineCompletionTriggerKind.Invoked)))
            out[kind].append(time.monotonic() - started)
            answered = answer.items if isinstance(answer, lsp.InlineCompletionList) else answer
            items[kind].append(len(answered or []))
            client.text_document_did_close(lsp.DidCloseTextDocumentParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri)))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return out, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--dwell", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS))
    parser.add_argument("--workdir", default="/tmp/codeslm-new-place")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    spots = pick_spots(args.files, args.seed)
    print(f"# first suggestion at a new place  commit {git_commit()}  model {args.model}")
    print(f"# machine: {machine()}")
    for name in args.configs:
        result, items = asyncio.run(run_config(name, args.model, spots, args.dwell, workdir))
        for kind, values in result.items():
            print(f"{name:>7} {kind:>10}: p50 {percentile(values, 50):.2f} s  p95 "
                  f"{percentile(values, 95):.2f} s  ({len(values)} requests, suggestions "
                  f"per answer {items[kind]})")
    print(f"# load after: {machine().split('load avg ')[1]}")


if __name__ == "__main__":
    main()
