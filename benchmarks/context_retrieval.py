"""Retrieval quality of the context builder without a model (fast, for tuning).

For the holes ``codeslm eval repo`` would pick (same seed, same leakage rule), build the
infile and repo contexts and report: how often the hidden line's cross-file names appear in
the context (name recall), how often the hidden line itself appears verbatim in it, and the
context size in (estimated) tokens. Usage:

    python benchmarks/context_retrieval.py REPO [--holes 200] [--seed 0] [--budget 768]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from codeslm.config import Config
from codeslm.context.builder import BuilderOptions
from codeslm.context.index import WorkspaceIndex
from codeslm.context.port import estimate_tokens
from codeslm.context.provider import WorkspaceProvider
from codeslm.evaluation.repo import pick_holes
from codeslm.types import Document


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo", type=Path)
    ap.add_argument("--holes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=int, default=768)
    ap.add_argument("--show", type=int, default=0, help="print the context of the first N holes")
    ap.add_argument("--options", default="{}", help="BuilderOptions fields as JSON")
    args = ap.parse_args()
    config = Config()
    with tempfile.TemporaryDirectory() as tmp:
        index = WorkspaceIndex.open(args.repo, config.context, db_path=Path(tmp) / "i.sqlite")
        index.refresh()
        holes = pick_holes(index, count=args.holes, seed=args.seed)
        options = BuilderOptions(**json.loads(args.options))
        providers = {m: WorkspaceProvider(index, config, scope=m, auto_sync=False,
                                          options=options) for m in ("infile", "repo")}
        stats = {m: {"recall": [], "verbatim": 0, "tokens": [], "ms": []} for m in providers}
        # Where the hidden line exists verbatim elsewhere (an upper bound for retrieval).
        line_home: dict[str, set[str]] = {}
        for rel in index.entries:
            try:
                body = (index.root / rel).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for line in body.split("\n"):
                line_home.setdefault(line.strip(), set()).add(rel)
        exists = 0
        for n, hole in enumerate(holes):
            text = (index.root / hole.path).read_text(encoding="utf-8")
            lines = text.split("\n")
            line_start = sum(len(x) + 1 for x in lines[: hole.line])
            cursor = line_start + hole.indent
            doc = Document(text[:cursor] + text[line_start + len(lines[hole.line]):],
                           str(index.root / hole.path), index.entries[hole.path].language)
            index.set_text(hole.path, text[:line_start], overlay=True)
            elsewhere = line_home.get(hole.target.strip(), set()) - {hole.path}
            before = any(x.strip() == hole.target.strip() for x in lines[: hole.line])
            exists += bool(elsewhere) or before
            for mode, provider in providers.items():
                provider.forget_region()
                started = time.perf_counter()
                ctx = provider.context_for(doc, cursor, budget_tokens=args.budget,
                                           count_tokens=estimate_tokens)
                stats[mode]["ms"].append(1000 * (time.perf_counter() - started))
                body = "\n".join(f.text for f in ctx.files)
                found = sum(1 for name in hole.names if name in body)
                stats[mode]["recall"].append(found / len(hole.names))
                stats[mode]["verbatim"] += any(line.strip() == hole.target.strip()
                                               for line in body.split("\n"))
                stats[mode]["tokens"].append(sum(estimate_tokens(f.text) for f in ctx.files))
                if n < args.show and mode == "repo":
                    print(f"===== {hole.id}: {hole.target}   names={hole.names}")
                    for f in ctx.files:
                        print(f"--- {f.path}\n{f.text}")
            index.revert_overlay(hole.path)
        print(f"{args.repo.name}: {len(holes)} holes, budget {args.budget}; the hidden line "
              f"exists verbatim elsewhere (other files or earlier in its file) for "
              f"{exists / len(holes):.3f}")
        for mode, s in stats.items():
            print(f"  {mode:6} name-recall {statistics.fmean(s['recall']):.3f}  verbatim "
                  f"{s['verbatim'] / len(holes):.3f}  tokens {statistics.fmean(s['tokens']):.0f}"
                  f"  ms p50 {statistics.median(s['ms']):.1f}")
        index.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
