"""``codeslm eval humaneval``: HumanEval single-line / multi-line infilling, rebuilt offline,
through the real completion engine, with the raw model output as a baseline."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from ..evaluation import humaneval
from ..evaluation.humaneval_data import KINDS, build_tasks, sample
from ..paths import data_dir
from ..session import open_session
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "humaneval",
        parents=parents,
        help="HumanEval infilling pass@1 (single-line or multi-line), engine vs raw model",
        description="Complete HumanEval infilling holes with the completion engine, run each "
        "program with its tests in a sandboxed subprocess (timeout, no network), and report "
        "pass@1, syntax validity and latency next to the raw model output. Results are "
        "appended to a JSONL file; running again resumes where it stopped.",
    )
    p.add_argument("--kind", choices=KINDS, default="single-line")
    p.add_argument("--limit", type=int, help="evaluate a deterministic sample of N tasks")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample (default 0)")
    p.add_argument("--mode", choices=["auto", "single-line", "multi-line"],
                   help="completion mode (default: the kind's own)")
    p.add_argument("--max-tokens", type=int,
                   help="tokens per completion (default 48 single-line, 128 multi-line)")
    p.add_argument("--layout", choices=humaneval.LAYOUTS, default="editor",
                   help="editor: cursor on an empty line at the hole (default); benchmark: "
                   "the original task text")
    p.add_argument("--cursor", choices=humaneval.CURSORS, default="col0",
                   help="editor layout: col0 leaves the cursor at column 0 of the empty line "
                   "(default); indented puts it after the hidden line's indentation")
    p.add_argument("--baseline-every", type=int, default=1, metavar="K",
                   help="run the raw baseline on every K-th task only (default 1: all)")
    p.add_argument("--rescore", action="store_true",
                   help="no model calls: post-process the recorded raw outputs again and "
                   "re-run the tests (after changing post-processing)")
    p.add_argument("--refresh-empty", action="store_true",
                   help="evaluate again the tasks whose completion was rejected (empty)")
    p.add_argument("--output", type=Path, help="results JSONL (default under the data dir)")
    p.add_argument("--restart", action="store_true", help="discard earlier results in --output")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


def _default_output(settings: humaneval.EvalSettings) -> Path:
    model = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(settings.model).name)
    size = "all" if settings.limit is None else f"n{settings.limit}-s{settings.seed}"
    layout = settings.layout + ("" if settings.cursor == "col0" else f"-{settings.cursor}")
    name = f"humaneval-{settings.kind}-{model}-{settings.mode}-{layout}-{size}.jsonl"
    return data_dir() / "eval" / name


def run(args: argparse.Namespace) -> int:
    loaded = common.load(args)
    config = loaded.config
    config.completion.latency_budget_ms = 0  # deterministic: no deadline in an evaluation
    config.completion.temperature = 0.0
    if args.max_tokens is not None and args.max_tokens < 1:
        from ..errors import InputError

        raise InputError("--max-tokens must be at least 1")
    settings = humaneval.EvalSettings(
        kind=args.kind,
        model=config.model,
        limit=args.limit,
        seed=args.seed,
        mode=args.mode or args.kind,
        max_tokens=args.max_tokens or (48 if args.kind == "single-line" else 128),
        layout=args.layout,
        baseline_every=args.baseline_every,
        cursor=args.cursor,
    )
    if args.cursor != "col0" and args.layout != "editor":
        from ..errors import InputError

        raise InputError("--cursor applies to the editor layout only")
    if args.baseline_every < 1:
        from ..errors import InputError

        raise InputError("--baseline-every must be at least 1")
    tasks = sample(build_tasks(args.kind), args.limit, args.seed)
    output = args.output or _default_output(settings)
    common.note(f"{len(tasks)} {args.kind} tasks, model {config.model}; results in {output}")

    async def body() -> list[dict[str, Any]]:
        async with open_session(config) as session:
            with _progress(len(tasks)) as update:
                return await humaneval.run(session.engine, tasks, settings, output,
                                           restart=args.restart,
                                           refresh_empty=args.refresh_empty, progress=update)

    if args.rescore:
        rows = common.run(lambda: _rescore(settings, tasks, output, config))
    else:
        rows = common.run(body)
    summary = humaneval.summarize(rows)
    if args.json:
        print(json.dumps({"settings": settings.header()["header"], "summary": summary,
                          "results": str(output)}, indent=2))
    else:
        print(humaneval.format_summary(summary, settings))
    return 0


async def _rescore(settings: humaneval.EvalSettings, tasks: list[Any], output: Path,
                   config: Any) -> list[dict[str, Any]]:
    rows = humaneval.read_results(output, settings)
    if not rows:
        from ..errors import InputError

        raise InputError(f"{output}: no results to rescore")
    rows = await humaneval.rescore(
        rows, {t.task_id: t for t in tasks}, settings,
        prefix_chars=config.completion.prefix_chars, suffix_chars=config.completion.suffix_chars)
    humaneval.rewrite(output, settings, rows)
    return [r for r in rows if r["task_id"] in {t.task_id for t in tasks}]


class _progress:
    """A progress bar on a terminal, a line every 25 tasks otherwise (both on stderr)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._bar: Any = None
        self._task: Any = None
        self._passed = 0
        self._seen = 0
        self._started = time.monotonic()

    def __enter__(self) -> Any:
        if common.stderr_is_tty():  # NO_COLOR removes colour only (rich honours it)
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(), transient=False,
                                 console=Console(stderr=True))
            self._bar.start()
            self._task = self._bar.add_task("humaneval", total=self.total)
        return self.update

    def update(self, done: int, total: int, result: humaneval.TaskResult | None) -> None:
        if result is not None:
            self._seen += 1
            self._passed += result.passed
        rate = f" pass@1 so far {self._passed / self._seen:.3f}" if self._seen else ""
        if self._bar is not None:
            self._bar.update(self._task, completed=done, description=f"humaneval{rate}")
        elif result is None or done % 25 == 0 or done == total:
            minutes = (time.monotonic() - self._started) / 60
            common.note(f"humaneval: {done}/{total} tasks{rate} ({minutes:.1f} min)")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
        sys.stderr.flush()
