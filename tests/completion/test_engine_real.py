"""The completion engine end to end on the real llama.cpp backend and the real 0.5B model."""

from __future__ import annotations

import ast
import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.completion.request import CompletionOptions
from codeslm.completion.scheduler import Scheduler, Superseded
from codeslm.config import Config
from codeslm.documents import position_after
from codeslm.engine import CompletionEngine
from codeslm.types import CompletionMode, Document, Position
from tests.conftest import codeslm_command

pytestmark = pytest.mark.model

BODY = '''\
def count_vowels(text: str) -> int:
    """Return how many vowels (a, e, i, o, u) the text has."""

    return count


def main() -> None:
    print(count_vowels("codeslm"))
'''


@pytest.fixture(scope="module")
def backend(model_path: Path) -> Iterator[LlamaCppBackend]:
    config = Config(model=str(model_path), n_ctx=2048)
    backend = LlamaCppBackend(config, model_path=model_path)
    yield backend
    asyncio.run(backend.aclose())


def _engine(backend: LlamaCppBackend, **completion: object) -> CompletionEngine:
    config = Config(n_ctx=2048)
    config.completion.latency_budget_ms = 0
    for key, value in completion.items():
        setattr(config.completion, key, value)
    return CompletionEngine(backend, config)


async def test_function_body_parses_and_does_not_repeat_the_suffix(
        backend: LlamaCppBackend) -> None:
    engine = _engine(backend)
    document = Document(BODY, "vowels.py", "python")
    completion = await engine.complete(document, Position(2, 0), CompletionOptions(max_tokens=64))
    assert completion.mode is CompletionMode.MULTI_LINE
    assert completion.text.strip(), completion.raw
    lines = BODY.split("\n")
    lines[2] = completion.text  # the empty line the cursor was on
    ast.parse("\n".join(lines))  # the completion leaves the file valid Python
    assert "def main" not in completion.text and "return count" not in completion.text
    assert completion.completion_tokens and completion.latency_s > 0


async def test_mid_line_completion_is_one_line_and_stops_early(backend: LlamaCppBackend) -> None:
    engine = _engine(backend)
    text = "def is_palindrome(s: str) -> bool:\n    return \n\n\nprint(is_palindrome('abba'))\n"
    completion = await engine.complete(Document(text, "pal.py", "python"), Position(1, 11))
    assert completion.mode is CompletionMode.SINGLE_LINE
    assert completion.text and "\n" not in completion.text
    assert "s" in completion.text
    assert completion.finish_reason in {"early", "stop"}


async def test_typed_ahead_reuses_the_real_completion(backend: LlamaCppBackend) -> None:
    engine = _engine(backend)
    text = "import math\n\n\ndef circle_area(r: float) -> float:\n    return \n"
    document = Document(text, "geo.py", "python")
    first = await engine.complete(document, Position(4, 11))
    assert len(first.text) >= 2, first.raw
    typed = first.text[:2]
    typed_doc = Document(text.replace("return \n", f"return {typed}\n"), "geo.py", "python")
    again = await engine.complete(typed_doc, position_after(document, Position(4, 11), typed))
    assert again.cached and again.text == first.text[2:]
    assert engine.stats.model_calls == 1


async def test_a_superseded_request_stops_in_the_backend(backend: LlamaCppBackend) -> None:
    engine = _engine(backend)
    scheduler = Scheduler(engine.stats)  # the one owner of superseding
    document = Document("# a long list of numbers\nNUMBERS = [\n", "nums.py", "python")
    long_options = CompletionOptions(mode=CompletionMode.MULTI_LINE, max_tokens=400,
                                     early_stop=False, use_cache=False)
    long_one = asyncio.create_task(scheduler.run(
        "nums.py", lambda: engine.complete(document, Position(2, 0), long_options)))
    await asyncio.sleep(1.0)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, max_tokens=8, use_cache=False)
    newer = await scheduler.run(
        "nums.py", lambda: engine.complete(document, Position(2, 0), options))
    older = await long_one
    assert isinstance(older, Superseded)
    assert not isinstance(newer, Superseded)
    cancelled = [usage for reason, usage in backend.history if reason == "cancelled"]
    assert cancelled and (cancelled[-1].completion_tokens or 0) < 400


def test_eval_cli_runs_and_resumes(cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "he.jsonl"
    command = [*codeslm_command(), "eval", "humaneval", "--kind", "single-line", "--limit", "2",
               "--seed", "5", "--output", str(out), "--json"]
    first = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)["summary"]
    assert summary["tasks"] == 2 and 0 <= summary["pass_at_1"] <= 1
    assert summary["baseline_tasks"] == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert "header" in rows[0] and len(rows) == 3
    assert all(isinstance(r["passed"], bool) and r["latency_s"] > 0 for r in rows[1:])
    again = subprocess.run(command, env=cli_env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and json.loads(again.stdout)["summary"] == summary
    assert len(out.read_text().splitlines()) == 3  # nothing recomputed
    bad = subprocess.run([*command[:-1], "--max-tokens", "0"], env=cli_env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ")


async def test_ngram_speculative_decoding_runs_past_one_prompt_batch(model_path: Path) -> None:
    config = Config(model=str(model_path), n_ctx=512, n_batch=64)
    config.completion.speculative = "ngram"
    config.completion.latency_budget_ms = 0
    backend = LlamaCppBackend(config, model_path=model_path)
    try:
        engine = CompletionEngine(backend, config)
        lines = "".join(f"    values.append(scale(item_{i}, factor={i}))\n" for i in range(12))
        text = f"def build(factor):\n    values = []\n{lines}\n    return values\n"
        document = Document(text, "spec.py", "python")
        options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, max_tokens=16)
        completion = await engine.complete(document, Position(14, 0), options)
        assert completion.prompt_tokens is None or completion.prompt_tokens > 64
        assert completion.finish_reason != "error" and completion.raw
    finally:
        await backend.aclose()


async def test_early_stopped_completions_report_the_reused_prompt(
        backend: LlamaCppBackend) -> None:
    # Typing one character at the same spot: the second prompt shares everything up to the
    # cursor with the first, and the engine (which closes the stream as soon as the line is
    # done) still learns from the backend how much of it was reused.
    engine = _engine(backend, retries=0)
    text = "def area(width, height):\n    return width * \n\n\nprint(area(2, 3))\n"
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, use_cache=False)
    first = await engine.complete(Document(text, "area.py", "python"), Position(1, 19), options)
    typed = text.replace("width * \n", "width * h\n")
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, use_cache=False)
    second = await engine.complete(Document(typed, "area.py", "python"), Position(1, 20), options)
    for completion in (first, second):
        assert completion.prompt_tokens and completion.completion_tokens is not None
    assert second.cached_prompt_tokens is not None
    assert second.cached_prompt_tokens >= second.prompt_tokens // 2, second


ARGPARSE = '''\
import argparse


def parse():
    parser = argparse.ArgumentParser(description="Copy files.")
    parser.add_argument(
        "--source",
        help="where to copy from",
    )
    parser.add_argument(
        "--target",
        help="where to copy to",
    )
    parser.add_argument
    return parser.parse_args()
'''


async def test_a_call_the_model_spreads_over_lines_comes_back_on_one_line(
        backend: LlamaCppBackend) -> None:
    """The file spreads every ``add_argument`` call over lines and so does the model: the
    single-line completion waits for the call to close and joins it onto the line."""
    engine = _engine(backend)
    document = Document(ARGPARSE, "cli.py", "python")
    completion = await engine.complete(document, Position(13, 23))
    assert completion.mode is CompletionMode.SINGLE_LINE
    assert "\n" in completion.raw.strip(), completion.raw  # the model did spread the call
    text = completion.text
    assert "\n" not in text and text.startswith("(") and text.endswith(")"), text
    assert not text.endswith(",)")  # a call's trailing comma goes with the join
    lines = ARGPARSE.split("\n")
    lines[13] += text
    ast.parse("\n".join(lines))



AGENTS = '''\
from agents import Agent


def build(tools):
    helper = Agent(
        name="Helper",
        instructions="You answer questions about the files in the repository, briefly, politely.",
        tools=tools,
    )
    reviewer = Agent
    return helper, reviewer
'''


async def test_a_spread_call_too_long_for_the_line_comes_back_over_its_lines(
        backend: LlamaCppBackend) -> None:
    """A call the file spreads over lines, with arguments too long to join within 100
    columns: the single-line completion is the whole call over its lines, as the model wrote
    it (not a bare ``(``), and the file parses with it in place."""
    engine = _engine(backend)
    document = Document(AGENTS, "team.py", "python")
    completion = await engine.complete(document, Position(9, 20))
    assert completion.mode is CompletionMode.SINGLE_LINE
    text = completion.text
    assert "\n" in text and text.startswith("(") and text.endswith(")"), text
    lines = AGENTS.split("\n")
    lines[9] += text
    ast.parse("\n".join(lines))


EDITS = '''\
def to_text_edits(text: str, edits: list[OffsetEdit]) -> list[TextEdit]:
    """Offset edits on ``text`` as position edits."""
    return [
        TextEdit(Range(position_at(text, e.start), position_at(text, e.end)), e.new_text)
        for e in edits
    


def apply_edits(text: str, edits: list[TextEdit]) -> str:
    """Apply non-overlapping position edits (all relative to ``text``)."""
    return apply_offsets(text, [to_offset_edit(text, e) for e in edits])
'''


async def test_a_block_that_runs_into_the_next_def_stops_at_its_first_token(
        backend: LlamaCppBackend) -> None:
    """The model closes the list and goes on into the next function (the typing replay's line
    75): generation stops as soon as that line starts at column 0, not after its header."""
    engine = _engine(backend)
    document = Document(EDITS, "edits.py", "python")
    completion = await engine.complete(document, Position(5, 4), CompletionOptions(max_tokens=64))
    assert completion.mode is CompletionMode.MULTI_LINE
    assert completion.text.strip() and "def" not in completion.text, completion.raw
    assert completion.finish_reason == "early"
    last = completion.raw.rsplit("\n", 1)[-1]
    assert last and not last[0].isspace(), completion.raw  # stopped on a line at column 0
    assert "(" not in last, completion.raw  # at its first token, not after the header
    assert (completion.completion_tokens or 0) <= 8, completion.raw


LOOP = '''\
def total_length(words: list[str]) -> int:
    """Sum of the lengths of the words."""
    total = 0
    for word in 
    return total
'''


async def test_the_follow_up_completes_the_next_line_ahead(backend: LlamaCppBackend) -> None:
    """Typing into a loop header's suggestion has the body's first line completed in the
    background; at the new line (after Enter and the editor's indentation) it is answered
    without a model call."""
    engine = _engine(backend)
    follow = CompletionOptions(follow=True)
    doc = Document(LOOP, "words.py", "python")
    at = Position(3, 16)
    shown = await engine.complete(doc, at, follow)
    assert shown.text.strip(), "the model suggested nothing for the loop header"
    assert engine.warmer.task is None  # a fresh suggestion: most are typed over
    typed = shown.text[0]
    offset = LOOP.index("in \n") + 3
    typing = Document(LOOP[:offset] + typed + LOOP[offset:], "words.py", "python")
    assert (await engine.complete(typing, position_after(doc, at, typed), follow)).cached
    assert engine.warmer.task is not None and await engine.warmer.task
    calls = engine.stats.model_calls
    header = "    for word in " + shown.text
    indent = " " * 8 if header.rstrip().endswith(":") else " " * 4
    ahead_text = LOOP.replace("    for word in \n", header + "\n" + indent + "\n")
    ahead = await engine.complete(
        Document(ahead_text, "words.py", "python"), Position(4, len(indent)), follow
    )
    assert ahead.cached and ahead.text.strip()
    assert engine.stats.model_calls == calls and engine.stats.follow_up_hits == 1


LONG_LINE = '''\
import argparse


def parser() -> argparse.ArgumentParser:
    """The command line: an input file and a verbosity flag."""
    parser = argparse.ArgumentParser(description="Count the words of a file.")
    parser.add_argument("path", help="the file to read")
    parser.add_argument(
    return parser
'''


async def test_a_suggestion_shown_early_ends_as_the_whole_answer(backend: LlamaCppBackend) -> None:
    """A suggestion shown early (what the model wrote within the time) is the start of the
    answer the same request gives without the option, and once the rest is written in the
    background, typing through the shown text gets exactly that answer's rest with no model
    call."""
    at = Position(7, 24)
    doc = Document(LONG_LINE, "cli.py", "python")
    single = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    whole = await _engine(backend).complete(doc, at, single)
    assert len(whole.text) >= 20, f"the model wrote too short a line to cut: {whole.text!r}"
    engine = _engine(backend)
    early = CompletionOptions(mode=CompletionMode.SINGLE_LINE, show_within_s=0.05)
    shown = await engine.complete(doc, at, early)
    assert shown.finish_reason == "continuing", shown
    assert whole.text.startswith(shown.text) and len(shown.text) < len(whole.text)
    assert engine.warmer.task is not None and await engine.warmer.task
    calls = engine.stats.model_calls
    offset = LONG_LINE.index("argument(\n") + len("argument(")
    typed = Document(LONG_LINE[:offset] + shown.text + LONG_LINE[offset:], "cli.py", "python")
    rest = await engine.complete(typed, position_after(doc, at, shown.text), early)
    assert rest.cached and shown.text + rest.text == whole.text
    assert engine.stats.model_calls == calls and engine.stats.finished_late == 1
