"""The HumanEval infilling evaluation: dataset rebuilt offline, sandboxed execution, resumable
results. The engine runs on the scripted backend here; test_engine_real.py runs the CLI on the
real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeslm.backends.fake import FakeBackend
from codeslm.config import Config
from codeslm.engine import CompletionEngine
from codeslm.errors import InputError
from codeslm.evaluation import humaneval
from codeslm.evaluation.humaneval_data import build_tasks, sample
from codeslm.evaluation.sandbox import run_program
from codeslm.types import GenerationRequest


def test_task_counts_match_the_published_benchmarks() -> None:
    single = build_tasks("single-line")
    multi = build_tasks("multi-line")
    assert len(single) == 1033 and len(multi) == 5815
    assert single[0].task_id == "SingleLineInfilling/HumanEval/0/L0"
    assert all(t.canonical_solution.strip() for t in single)
    assert len({t.task_id for t in multi}) == 5815
    with pytest.raises(InputError):
        build_tasks("random-span")


def test_sample_is_deterministic_and_in_benchmark_order() -> None:
    tasks = build_tasks("single-line")
    a, b = sample(tasks, 50, 7), sample(tasks, 50, 7)
    assert [t.task_id for t in a] == [t.task_id for t in b]
    assert [t.task_id for t in sample(tasks, 50, 8)] != [t.task_id for t in a]
    order = {t.task_id: i for i, t in enumerate(tasks)}
    assert [order[t.task_id] for t in a] == sorted(order[t.task_id] for t in a)
    assert len(sample(tasks, None, 0)) == 1033


def test_canonical_solutions_pass_and_wrong_ones_fail() -> None:
    for task in build_tasks("single-line")[:5]:
        assert run_program(task.program(task.canonical_solution)).passed
    task = build_tasks("single-line")[3]
    result = run_program(task.program("    pass\n"))
    assert not result.passed and result.status == "failed"


def test_sandbox_blocks_the_network_and_times_out() -> None:
    blocked = run_program("import socket\nsocket.create_connection(('127.0.0.1', 9))\n")
    assert not blocked.passed and ("disabled" in blocked.detail or "Error" in blocked.detail)
    slow = run_program("while True:\n    pass\n", timeout_s=1)
    assert slow.status == "timeout"


def _canonical_script(tasks: dict[str, str], default: str = "    pass\n"):  # type: ignore[no-untyped-def]
    """Replies with the canonical middle of whichever task the prompt is for, plus noise."""

    def reply(request: GenerationRequest) -> str:
        shown = (request.prompt or "").split("<|fim_suffix|>")[0]
        # The engine may have put the block's indentation at the end of the prefix (a cursor
        # at column 0 inside a body): a model goes on after it.
        lead = shown[len(shown.rstrip(" \t")):]
        for prefix, middle in tasks.items():
            if shown[: len(shown) - len(lead)].endswith(prefix[-300:]):
                middle = middle[len(lead):] if middle.startswith(lead) else middle
                return middle.rstrip("\n") + "\n\n\n# Check the function\ndef check():\n    pass\n"
        return default

    return reply


async def test_run_resumes_and_refuses_other_settings(tmp_path: Path) -> None:
    tasks = sample(build_tasks("single-line"), 4, 1)
    script = _canonical_script({t.prompt: t.canonical_solution for t in tasks})
    config = Config(backend="fake")
    config.completion.latency_budget_ms = 0
    engine = CompletionEngine(FakeBackend(script), config)
    settings = humaneval.EvalSettings(kind="single-line", model="fake", limit=4, seed=1,
                                      mode="single-line", max_tokens=48)
    out = tmp_path / "r.jsonl"
    rows = await humaneval.run(engine, tasks[:2], settings, out)
    assert len(rows) == 2
    seen: list[int] = []
    rows = await humaneval.run(engine, tasks, settings, out,
                               progress=lambda done, total, r: seen.append(done))
    assert len(rows) == 4 and seen[0] == 2 and seen[-1] == 4  # the first two were kept
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["header"]["kind"] == "single-line" and len(lines) == 5
    summary = humaneval.summarize(rows)
    assert summary["pass_at_1"] == 1.0 and summary["baseline_pass_at_1"] == 1.0
    assert "pass@1" in humaneval.format_summary(summary, settings)
    other = humaneval.EvalSettings(kind="single-line", model="other", limit=4, seed=1,
                                   mode="single-line", max_tokens=48)
    with pytest.raises(InputError):
        await humaneval.run(engine, tasks, other, out)


async def test_multi_line_baseline_keeps_the_raw_rambling(tmp_path: Path) -> None:
    tasks = [t for t in build_tasks("multi-line") if t.task_id.endswith("/2/L0_L0")]
    script = _canonical_script({t.prompt: t.canonical_solution for t in tasks})
    config = Config(backend="fake")
    config.completion.latency_budget_ms = 0
    engine = CompletionEngine(FakeBackend(script), config)
    settings = humaneval.EvalSettings(kind="multi-line", model="fake", limit=None, seed=0,
                                      mode="multi-line", max_tokens=128)
    rows = await humaneval.run(engine, tasks, settings, tmp_path / "m.jsonl")
    row = rows[0]
    assert row["passed"] and row["completion"] == tasks[0].canonical_solution.rstrip()
    assert "def check" in row["baseline"]  # the unprocessed output, test code and all


def test_a_truncated_last_line_is_redone(tmp_path: Path) -> None:
    settings = humaneval.EvalSettings(kind="single-line", model="m", limit=None, seed=0,
                                      mode="single-line", max_tokens=48)
    out = tmp_path / "r.jsonl"
    out.write_text(json.dumps(settings.header()) + "\n" + '{"task_id": "a"}\n{"task_')
    assert humaneval.read_results(out, settings) == [{"task_id": "a"}]
    out.write_text(json.dumps(settings.header()) + "\nnot json\n{}\n")
    with pytest.raises(InputError):
        humaneval.read_results(out, settings)


async def test_refresh_empty_redoes_only_rejected_completions(tmp_path: Path) -> None:
    tasks = sample(build_tasks("single-line"), 3, 2)
    config = Config(backend="fake")
    config.completion.latency_budget_ms = 0
    config.completion.retries = 0
    settings = humaneval.EvalSettings(kind="single-line", model="fake", limit=3, seed=2,
                                      mode="single-line", max_tokens=48)
    out = tmp_path / "r.jsonl"
    first_middle = {tasks[0].prompt: tasks[0].canonical_solution}
    engine = CompletionEngine(FakeBackend(_canonical_script(first_middle, "")), config)
    rows = await humaneval.run(engine, tasks, settings, out)
    assert [bool(r["completion"]) for r in rows] == [True, False, False]
    fixed = CompletionEngine(FakeBackend(_canonical_script(
        {t.prompt: t.canonical_solution for t in tasks})), config)
    rows = await humaneval.run(fixed, tasks, settings, out, refresh_empty=True)
    assert len(rows) == 3 and all(r["passed"] for r in rows)
    assert len(fixed.backend.requests) == 2  # type: ignore[attr-defined]
    assert len(out.read_text().splitlines()) == 4


async def test_cursor_at_column_0_and_indented(tmp_path: Path) -> None:
    tasks = [t for t in build_tasks("single-line") if t.task_id.endswith("/2/L0")]
    task = tasks[0]
    indent = task.canonical_solution[: len(task.canonical_solution)
                                      - len(task.canonical_solution.lstrip(" "))]
    assert indent  # the hidden line is inside the function
    script = _canonical_script({t.prompt: t.canonical_solution for t in tasks})
    config = Config(backend="fake")
    config.completion.latency_budget_ms = 0
    for cursor in humaneval.CURSORS:
        backend = FakeBackend(script)
        engine = CompletionEngine(backend, config)
        settings = humaneval.EvalSettings(kind="single-line", model="fake", limit=None, seed=0,
                                          mode="single-line", max_tokens=48, cursor=cursor)
        rows = await humaneval.run(engine, tasks, settings, tmp_path / f"{cursor}.jsonl")
        assert rows[0]["passed"] and rows[0]["baseline_passed"], (cursor, rows[0])
        # The model is shown the prefix up to the real cursor (the model that writes the
        # indentation itself at column 0 is not asked again at the block's).
        typed = indent if cursor == "indented" else ""
        assert len(backend.requests) == 1
        assert (task.prompt + typed + "<|fim_suffix|>") in (backend.requests[0].prompt or "")
        expected = task.canonical_solution.rstrip("\n")
        assert rows[0]["completion"] == (expected if cursor == "col0" else expected.lstrip(" "))
    # The default cursor keeps the header of files written before the option existed.
    assert "cursor" not in humaneval.EvalSettings("single-line", "m", None, 0, "single-line",
                                                  48).header()["header"]
