"""``codeslm eval repo PATH``: completion quality on your own repository, with no context,
in-file context and repository context side by side (see codeslm/evaluation/repo.py)."""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import Config
from ..context.index import WorkspaceIndex
from ..errors import InputError
from ..evaluation import repo as repo_eval
from ..paths import data_dir
from ..session import open_session
from . import common
from .index import progress_bar


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "repo",
        parents=parents,
        help="exact match / edit similarity on holes in your repository, with and without "
        "cross-file context",
        description="Hide lines that use names defined in other files (chosen with a seed; "
        "from the first such name on, or the whole line with --cut line), complete them "
        "with no context, in-file context and repository context at the same "
        "token budget, and report exact match, edit similarity, syntax validity, latency and "
        "prefix-cache reuse. Results go to a JSONL file; running again resumes.",
    )
    p.add_argument("path", metavar="PATH", help="the repository (a directory)")
    p.add_argument("--holes", type=int, default=40, help="number of holes (default 40)")
    p.add_argument("--seed", type=int, default=0, help="seed of the hole choice (default 0)")
    p.add_argument(
        "--context",
        default="none,infile,repo",
        help="comma-separated modes among none, infile, repo (default: all three)",
    )
    p.add_argument(
        "--cut",
        choices=repo_eval.CUTS,
        default="api",
        help="where a hole starts: api = before the line's first name from another "
        "file, as CrossCodeEval splits (default); line = the whole line",
    )
    p.add_argument(
        "--budget", type=int, help="context tokens for infile/repo (default: context.budget_tokens)"
    )
    p.add_argument("--max-tokens", type=int, default=48, help="tokens per completion (48)")
    p.add_argument(
        "--no-probe",
        action="store_true",
        help="skip the typing probe that measures prefix-cache reuse",
    )
    p.add_argument("--output", type=Path, help="results JSONL (default under the data dir)")
    p.add_argument("--restart", action="store_true", help="discard earlier results in --output")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--adapter",
        metavar="auto|none|FILE",
        help="only the files `codeslm tune` held out, scored without and with its "
        "adapter side by side (auto: this repository's; none: without only)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    root = Path(args.path)
    config, settings = _settings(args, root)
    modes = settings.modes
    output = args.output or _default_output(settings)
    index = WorkspaceIndex.open(root, config.context)
    try:
        with progress_bar("indexing") as update:
            report = index.refresh(progress=update)
        common.note(
            f"indexed {report.files} files ({report.parsed} parsed) in {report.seconds:.1f}s"
        )
        if args.adapter:  # codeslm tune's held-out files, without and with the adapter
            return _with_adapter(args, index, config, settings, output)
        holes = repo_eval.pick_holes(index, count=args.holes, seed=args.seed, cut=args.cut)
        if not holes:
            raise InputError(
                f"{root}: no line uses a name defined in another file",
                hint="the evaluation needs a repository of several source files",
            )
        rows = [] if args.restart else repo_eval.load_results(output, settings)
        output.parent.mkdir(parents=True, exist_ok=True)
        if not rows:
            output.write_text(json.dumps(settings.header()) + "\n", encoding="utf-8")
        common.note(
            f"{len(holes)} holes x {len(modes)} modes, model {config.model}; results in {output}"
        )
        common.run(lambda: _complete(index, holes, config, settings, rows, output))
    finally:
        index.close()
    summaries = repo_eval.summarize(
        rows, modes, {h.id: h.names for h in holes}, {h.id: h.first_use for h in holes}
    )
    if args.json:
        print(json.dumps([asdict(s) for s in summaries], indent=2))
    else:
        print(format_table(summaries, settings))
    return 0


def _settings(args: argparse.Namespace, root: Path) -> tuple[Config, repo_eval.RepoEvalSettings]:
    """The config for an evaluation (no deadline, greedy) and the settings its results file
    records; InputError for a bad argument."""
    if not root.is_dir():
        raise InputError(f"{root}: not a directory")
    modes = tuple(m.strip() for m in args.context.split(",") if m.strip())
    bad = [m for m in modes if m not in repo_eval.MODES]
    if bad or not modes:
        raise InputError(
            f"--context: unknown mode(s) {', '.join(bad) or '(none)'}",
            hint="use a comma-separated list of none, infile, repo",
        )
    if args.holes < 1 or args.max_tokens < 1:
        raise InputError("--holes and --max-tokens must be at least 1")
    loaded = common.load(args)
    config = loaded.config
    config.completion.latency_budget_ms = 0  # an evaluation has no deadline
    config.completion.temperature = 0.0
    if args.budget is not None:
        if args.budget < 0:
            raise InputError("--budget must not be negative")
        config.context.budget_tokens = args.budget
    settings = repo_eval.RepoEvalSettings(
        root=str(root.resolve()),
        model=config.model,
        holes=args.holes,
        seed=args.seed,
        modes=modes,
        budget_tokens=config.context.budget_tokens,
        max_tokens=args.max_tokens,
        prefix_chars=config.completion.prefix_chars,
        suffix_chars=config.completion.suffix_chars,
        probe=not args.no_probe,
        cut=args.cut,
        member_constraint=config.context.member_constraint,
    )
    return config, settings


async def _complete(
    index: WorkspaceIndex,
    holes: list[repo_eval.Hole],
    config: Config,
    settings: repo_eval.RepoEvalSettings,
    rows: list[dict[str, Any]],
    output: Path,
) -> None:
    """Every hole not in ``rows`` yet, in every mode; each result is appended to ``rows`` and
    to the results file as it comes (an interrupted run resumes there)."""
    done = {(r["hole"], r["mode"]) for r in rows}
    async with open_session(config) as session:
        evaluation = repo_eval.RepoEvaluation(index, session, settings)
        for number, hole in enumerate(holes, 1):
            if all((hole.id, m) in done for m in settings.modes):
                continue
            text = (index.root / hole.path).read_text(encoding="utf-8")
            results = await evaluation.run_hole(hole, text)
            with output.open("a", encoding="utf-8") as fh:
                for r in results:
                    row = asdict(r)
                    rows.append(row)
                    fh.write(json.dumps(row) + "\n")
            marks = " ".join(f"{r.mode} {'ok' if r.exact else '--'}" for r in results)
            common.note(f"[{number}/{len(holes)}] {hole.id}  {marks}")


def _with_adapter(
    args: argparse.Namespace,
    index: WorkspaceIndex,
    config: Any,
    settings: repo_eval.RepoEvalSettings,
    output: Path,
) -> int:
    from ..tune import evaluate

    if args.output is None:
        kind = "baseline" if args.adapter == "none" else "adapter"
        output = output.with_name(f"{output.stem}-{kind}.jsonl")
    rows = evaluate.run(index, config, settings, args.adapter, output, args.restart, common.note)
    modes = evaluate.modes_of(settings, args.adapter != "none")
    summaries = repo_eval.summarize(rows, modes)
    if args.json:
        print(json.dumps([asdict(s) for s in summaries], indent=2))
    else:
        print(format_table(summaries, settings))
    return 0


def _default_output(settings: repo_eval.RepoEvalSettings) -> Path:
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(settings.model).name)
    name = (
        f"repo-{Path(settings.root).name}-{model}-n{settings.holes}-s{settings.seed}-"
        f"b{settings.budget_tokens}-{settings.cut}.jsonl"
    )
    return data_dir() / "eval" / name


def format_table(
    summaries: list[repo_eval.ModeSummary], settings: repo_eval.RepoEvalSettings
) -> str:
    """The side-by-side table printed at the end of a run."""
    head = (
        f"{'context':8} {'holes':>5} {'exact':>6} {'first':>6} {'edit-sim':>8} {'api':>5} "
        f"{'syntax':>6} {'p50 s':>6} {'p95 s':>6} {'prompt':>6} {'typing':>6} "
        f"{'probe s':>7} {'ctx ms':>6}"
    )
    lines = [
        f"{Path(settings.root).name}: {settings.model}, budget {settings.budget_tokens} "
        f"tokens, seed {settings.seed}, holes cut at {settings.cut}",
        head,
    ]
    for s in summaries:
        typing = f"{s.probe_reuse:6.2f}" if s.probe_reuse is not None else f"{'-':>6}"
        probe = f"{s.probe_p50_s:7.2f}" if s.probe_p50_s is not None else f"{'-':>7}"
        first = f"{s.first_use_exact:6.3f}" if s.first_use_holes else f"{'-':>6}"
        lines.append(
            f"{s.mode:8} {s.holes:5d} {s.exact:6.3f} {first} {s.edit_similarity:8.3f} "
            f"{s.api_match:5.2f} {s.syntax_ok:6.2f} {s.p50_s:6.2f} {s.p95_s:6.2f} "
            f"{s.prompt_tokens:6.0f} {typing} {probe} {s.context_p95_ms:6.1f}"
        )
    firsts = max((s.first_use_holes for s in summaries), default=0)
    constrained = ", ".join(
        f"{s.mode} {s.constrained_holes}" for s in summaries if s.constrained_holes
    )
    if constrained:
        lines.append(
            f"holes whose first name was kept to the receiver's known members: {constrained}"
        )
    lines.append(
        f"first: exact match on the {firsts} holes whose cross-file names the file "
        "has not used above them (only another file can tell)"
    )
    lines.append(
        "api: the hole's cross-file names all in the prediction; p50/p95: cold "
        "latency; typing: share of the prompt reused from the KV cache by the next "
        "request after typing, probe s: its p50 latency; ctx ms: p95 context build"
    )
    return "\n".join(lines)
