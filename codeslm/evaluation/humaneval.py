"""HumanEval infilling through the real completion engine, scored by running the tests.

For every task the engine completes the hole exactly as it would in an editor, and two
programs are executed in the sandbox (:mod:`.sandbox`):

- **engine**: the post-processed completion (what a user would be shown);
- **raw baseline**: the same model's unprocessed output for the same prompt. Single-line:
  the first generated line (a naive stop at the newline); multi-line: everything up to the
  model's end token or the token limit. Greedy decoding makes this the continuation of the
  engine's own generation, so it costs only the tokens the engine did not generate.

``layout`` says how a hole is shown to the engine: ``editor`` (default) puts the cursor on
an empty line where the missing lines go, as in an editor; ``benchmark`` uses the original
task text (the cursor at the start of the line after the hole, the model expected to write
the newline). ``cursor`` says where on the editor layout's empty line: ``col0`` (default) at
column 0, as an editor without auto-indent (or a cleared line) leaves it, so the engine has to
find the block's indentation itself; ``indented`` after the hidden line's own indentation, as
an auto-indenting editor that guessed right would leave it (a reference, not a user's case).

Results go to a JSONL file, one line per task after a header line with the settings; a run
finds the tasks already in the file and skips them, so an interrupted run loses nothing.
"""

from __future__ import annotations

import ast
import asyncio
import json
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..completion import Hole
from ..completion.blockindent import missing_indentation, starts_shallower
from ..completion.request import CompletionOptions, Cursor
from ..context.port import window
from ..engine import CompletionEngine
from ..errors import InputError
from ..types import CompletionMode, Document, GenerationRequest
from .humaneval_data import InfillTask
from .sandbox import run_program

LAYOUTS = ("editor", "benchmark")
CURSORS = ("col0", "indented")


@dataclass(frozen=True, slots=True)
class EvalSettings:
    """What determines the results; a results file is only resumed with equal settings."""

    kind: str
    model: str
    limit: int | None
    seed: int
    mode: str
    max_tokens: int
    layout: str = "editor"
    baseline_every: int = 1  # the raw baseline runs on every n-th task of the sample
    cursor: str = "col0"  # editor layout: where on the empty line the cursor is

    def header(self) -> dict[str, Any]:
        settings = asdict(self)
        if self.cursor == "col0":
            del settings["cursor"]  # files written before the option existed still resume
        return {"header": settings}


@dataclass(frozen=True, slots=True)
class TaskResult:
    """One task's outcome for the engine and for the raw baseline."""

    task_id: str
    completion: str
    passed: bool
    syntax_ok: bool
    status: str
    raw: str
    baseline: str | None  # None when the baseline was not run for this task
    baseline_passed: bool | None
    baseline_syntax_ok: bool | None
    latency_s: float
    finish_reason: str | None
    completion_tokens: int | None
    baseline_tokens: int | None


def _typed_indent(task: InfillTask, settings: EvalSettings) -> str:
    """What is already on the cursor's line before the cursor: the hidden line's indentation
    with ``cursor`` ``indented``, else nothing."""
    if settings.layout != "editor" or settings.cursor != "indented":
        return ""
    first = task.canonical_solution.split("\n", 1)[0]
    return first[: len(first) - len(first.lstrip(" \t"))]


def _document(task: InfillTask, settings: EvalSettings) -> tuple[Document, int]:
    typed = _typed_indent(task, settings)
    line = typed + "\n" if settings.layout == "editor" else ""
    text = task.prompt + line + task.suffix
    return Document(text=text, path=None, language="python"), len(task.prompt) + len(typed)


def _program_middle(middle: str, task: InfillTask, settings: EvalSettings) -> str:
    """The text that goes between the task's prompt and suffix for a completion ``middle``."""
    if settings.layout == "editor":
        # The empty line the cursor was on keeps what was typed on it and its newline.
        return _typed_indent(task, settings) + middle + "\n"
    return middle if middle.endswith("\n") else middle + "\n"


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


async def _baseline(engine: CompletionEngine, document: Document, cursor: int, raw: str,
                    finish: str | None, tokens: int | None, settings: EvalSettings,
                    mode: CompletionMode) -> tuple[str, int | None]:
    """The naive output: first line (single-line) or the whole generation (multi-line)."""
    if settings.kind == "single-line":
        return raw.split("\n", 1)[0], None
    used = tokens or 0
    if finish in ("stop", "length") or used >= settings.max_tokens:
        return raw, used
    # The engine stopped early: continue the same greedy generation to the naive end.
    options = CompletionOptions(mode=mode, use_context=False, max_tokens=settings.max_tokens)
    plan = await engine.plan(document, Cursor.at_offset(document.text, cursor), options)
    request = GenerationRequest(
        prompt=plan.prompt + raw, max_tokens=max(1, settings.max_tokens - used),
        temperature=0.0, stop=plan.request.stop, stop_token_ids=plan.request.stop_token_ids,
        cache_key="humaneval-baseline",
    )
    more = await engine.backend.generate(request)
    return raw + more.text, used + (more.usage.completion_tokens or 0)


def _naive_middle(baseline: str, task: InfillTask, settings: EvalSettings) -> str:
    if settings.layout == "benchmark" and settings.kind == "multi-line":
        return baseline  # the model was expected to write the hole's last newline itself
    return _program_middle(baseline, task, settings)


async def _check(task: InfillTask, middle: str, timeout_s: float) -> tuple[bool, bool, str]:
    """(passed, parses, status) of the program with ``middle`` in the hole."""
    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(
        None, lambda: run_program(task.program(middle), timeout_s=timeout_s))
    status = result.status if result.passed else f"{result.status}: {result.detail}"
    return result.passed, _parses(task.prompt + middle + task.suffix), status


async def evaluate_task(engine: CompletionEngine, task: InfillTask, settings: EvalSettings,
                        *, with_baseline: bool = True, timeout_s: float = 10.0) -> TaskResult:
    """Complete one hole with the engine, derive the baseline, run both programs."""
    document, cursor = _document(task, settings)
    mode = CompletionMode(settings.mode)
    options = CompletionOptions(mode=mode, use_context=False, max_tokens=settings.max_tokens,
                                use_cache=False)
    completion = await engine.complete(document, Cursor.at_offset(document.text, cursor), options)
    passed, parses, status = await _check(
        task, _program_middle(completion.text, task, settings), timeout_s)
    baseline: str | None = None
    baseline_tokens: int | None = None
    baseline_passed: bool | None = None
    baseline_parses: bool | None = None
    if with_baseline:
        baseline, baseline_tokens = await _baseline(
            engine, document, cursor, completion.raw, completion.finish_reason,
            completion.completion_tokens, settings, mode,
        )
        baseline_passed, baseline_parses, _ = await _check(
            task, _naive_middle(baseline, task, settings), timeout_s)
    return TaskResult(
        task_id=task.task_id,
        completion=completion.text,
        passed=passed,
        syntax_ok=parses,
        status=status,
        raw=completion.raw,
        baseline=baseline,
        baseline_passed=baseline_passed,
        baseline_syntax_ok=baseline_parses,
        latency_s=round(completion.latency_s, 4),
        finish_reason=completion.finish_reason,
        completion_tokens=completion.completion_tokens,
        baseline_tokens=baseline_tokens,
    )


async def rescore(rows: list[dict[str, Any]], tasks: dict[str, InfillTask],
                  settings: EvalSettings, *, prefix_chars: int, suffix_chars: int,
                  timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """Post-process the stored raw outputs again and re-run the engine's programs.

    For trying post-processing changes without calling the model: the generation (and so
    the early stop that ended it) is the one recorded. Baselines are unchanged.
    """
    from ..completion import postprocess

    out = []
    for row in rows:
        task = tasks[row["task_id"]]
        document, cursor = _document(task, settings)
        prefix, suffix = window(document.text, cursor, prefix_chars, suffix_chars)
        mode, truncated = CompletionMode(settings.mode), row["finish_reason"] == "length"
        text = postprocess(row["raw"], prefix=prefix, suffix=suffix, mode=mode,
                           language="python", truncated=truncated)
        # As the engine: a completion that starts shallower than its block came from the
        # request asked again at the block's indentation.
        hole = Hole(prefix, suffix, "python")
        lead = missing_indentation(hole)
        if lead and starts_shallower(text if text.strip() else row["raw"], hole, lead):
            text = postprocess(row["raw"], prefix=prefix + lead, suffix=suffix, mode=mode,
                               language="python", truncated=truncated)
            text = lead + text if text.strip() else text
        passed, parses, status = await _check(
            task, _program_middle(text, task, settings), timeout_s)
        out.append({**row, "completion": text, "passed": passed, "syntax_ok": parses,
                    "status": status})
    return out


def read_results(path: Path, settings: EvalSettings) -> list[dict[str, Any]]:
    """Rows already in ``path`` (empty when it does not exist); InputError when the file was
    written with other settings or is not a results file."""
    if not path.exists():
        return []
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as fh:
            lines = [line for line in fh if line.strip()]
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not lines:
        return []
    try:
        header = json.loads(lines[0]).get("header")
    except (ValueError, AttributeError):
        header = None
    if header != settings.header()["header"]:
        raise InputError(
            f"{path} holds results of other settings ({header})",
            hint="choose another file with --output, or --restart to overwrite it",
        )
    for number, line in enumerate(lines[1:], start=2):
        try:
            rows.append(json.loads(line))
        except ValueError:
            if number == len(lines):  # a line cut short by an interruption: redo that task
                break
            raise InputError(f"{path}:{number}: not a JSON line") from None
    return rows


async def run(
    engine: CompletionEngine,
    tasks: list[InfillTask],
    settings: EvalSettings,
    output: Path,
    *,
    restart: bool = False,
    refresh_empty: bool = False,
    progress: Callable[[int, int, TaskResult | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate ``tasks`` not yet in ``output``, appending one JSON line per task; returns
    every row of the file for ``tasks``."""
    if restart and output.exists():
        output.unlink()
    rows = read_results(output, settings)
    if refresh_empty and rows:
        # Post-processing rejected everything the model wrote for these: evaluate them again
        # (an engine change that only acts on rejected completions, such as retries, leaves
        # every other row as it would be on a full re-run).
        rows = [row for row in rows if row["completion"].strip()]
        rewrite(output, settings, rows)
    done = {row["task_id"] for row in rows}
    wanted = {task.task_id for task in tasks}
    todo = [task for task in tasks if task.task_id not in done]
    output.parent.mkdir(parents=True, exist_ok=True)
    fresh = not output.exists() or output.stat().st_size == 0
    with output.open("a", encoding="utf-8") as fh:
        if fresh:
            fh.write(json.dumps(settings.header()) + "\n")
            fh.flush()
        finished = len(tasks) - len(todo)
        if progress:
            progress(finished, len(tasks), None)
        order = {task.task_id: i for i, task in enumerate(tasks)}
        for task in todo:
            with_baseline = order[task.task_id] % max(1, settings.baseline_every) == 0
            result = await evaluate_task(engine, task, settings, with_baseline=with_baseline)
            row = asdict(result)
            fh.write(json.dumps(row) + "\n")
            fh.flush()
            rows.append(row)
            finished += 1
            if progress:
                progress(finished, len(tasks), result)
    return [row for row in rows if row["task_id"] in wanted]


def rewrite(output: Path, settings: EvalSettings, rows: list[dict[str, Any]]) -> None:
    """Replace ``output`` with the header and ``rows`` (atomically)."""
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(settings.header()) + "\n")
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    tmp.replace(output)


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """pass@1, syntax validity and latency of the engine over ``rows``, and of the engine and
    the raw baseline over the rows that have a baseline (the side-by-side comparison)."""
    n = len(rows)
    if n == 0:
        return {"tasks": 0}
    latencies = sorted(row["latency_s"] for row in rows)
    paired = [row for row in rows if row.get("baseline_passed") is not None]
    m = len(paired)
    summary: dict[str, Any] = {
        "tasks": n,
        "pass_at_1": sum(row["passed"] for row in rows) / n,
        "syntax_ok": sum(row["syntax_ok"] for row in rows) / n,
        "latency_p50_s": statistics.median(latencies),
        "latency_p95_s": latencies[min(n - 1, int(0.95 * n))],
        "mean_tokens": statistics.fmean(row["completion_tokens"] or 0 for row in rows),
        "empty": sum(not row["completion"].strip() for row in rows) / n,
        "baseline_tasks": m,
    }
    if m:
        summary.update({
            "paired_pass_at_1": sum(row["passed"] for row in paired) / m,
            "paired_syntax_ok": sum(row["syntax_ok"] for row in paired) / m,
            "baseline_pass_at_1": sum(row["baseline_passed"] for row in paired) / m,
            "baseline_syntax_ok": sum(row["baseline_syntax_ok"] for row in paired) / m,
            "baseline_mean_tokens": statistics.fmean(
                row["baseline_tokens"] or row["completion_tokens"] or 0 for row in paired),
        })
    return summary


def format_summary(summary: dict[str, Any], settings: EvalSettings) -> str:
    """A small Markdown table of a summary, engine next to baseline."""
    if not summary.get("tasks"):
        return "no tasks evaluated"
    n, m = summary["tasks"], summary["baseline_tasks"]
    lines = [
        f"HumanEval {settings.kind} infilling, {n} tasks, model {settings.model}, mode "
        f"{settings.mode}, layout {settings.layout}"
        + (f", cursor {settings.cursor}" if settings.layout == "editor" else "")
        + f", max_tokens {settings.max_tokens}",
        "",
        "| | tasks | pass@1 | syntax valid |",
        "|---|---|---|---|",
        f"| engine (post-processed) | {n} | {summary['pass_at_1']:.3f} | "
        f"{summary['syntax_ok']:.3f} |",
    ]
    if m:
        if m != n:
            lines.append(f"| engine, baseline subset | {m} | {summary['paired_pass_at_1']:.3f} | "
                         f"{summary['paired_syntax_ok']:.3f} |")
        lines.append(f"| raw baseline | {m} | {summary['baseline_pass_at_1']:.3f} | "
                     f"{summary['baseline_syntax_ok']:.3f} |")
    lines += [
        "",
        f"engine latency p50 {summary['latency_p50_s']:.2f} s, p95 "
        f"{summary['latency_p95_s']:.2f} s; {summary['mean_tokens']:.1f} tokens generated on "
        f"average; {summary['empty']:.1%} empty completions",
    ]
    return "\n".join(lines)
