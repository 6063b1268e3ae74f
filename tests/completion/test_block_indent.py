"""A cursor left at column 0 inside a body completes at the body's indentation
(:mod:`codeslm.completion.blockindent` and its hook in the engine).

Table-driven from tests/golden/blockindent/cases.toml: every case checks the indentation the
engine adds; cases with a ``raw`` model output also run through the engine on the scripted
backend, which shows the prompt, the post-processing and the returned edit all use it. The
real model is driven through ``codeslm lsp`` in tests/lsp/test_lsp_indent_model.py.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codeslm.backends.fake import FakeBackend
from codeslm.completion import Hole
from codeslm.completion.blockindent import missing_indentation
from codeslm.completion.request import CompletionOptions
from codeslm.config import Config
from codeslm.documents import position_after, position_at
from codeslm.engine import CompletionEngine
from codeslm.types import Completion, CompletionMode, Document, GenerationRequest, Position

CASES_FILE = Path(__file__).resolve().parent.parent / "golden" / "blockindent" / "cases.toml"
CURSOR = "<|>"


def _cases() -> list[Any]:
    data = tomllib.loads(CASES_FILE.read_text(encoding="utf-8"))
    return [pytest.param(case, id=case["name"]) for case in data["case"]]


CASES = _cases()


def _split(case: dict[str, str]) -> tuple[str, str]:
    code = case["code"]
    assert code.count(CURSOR) == 1, "a case needs exactly one cursor marker"
    prefix, suffix = code.split(CURSOR)
    return prefix, suffix


def _engine(script: str | Callable[[GenerationRequest], str]) -> CompletionEngine:
    config = Config(backend="fake")
    config.completion.latency_budget_ms = 0
    config.completion.retries = 0
    return CompletionEngine(FakeBackend(script), config)


def test_the_table_covers_every_language_shape() -> None:
    languages = {param.values[0]["language"] for param in CASES}
    assert {"python", "javascript", "typescript", "go", "rust", "c", "cpp", "java"} <= languages
    leads = [param.values[0]["lead"] for param in CASES]
    assert "" in leads and "\t" in leads and "    " in leads  # no-ops, tabs and spaces


@pytest.mark.parametrize("case", CASES)
def test_missing_indentation(case: dict[str, str]) -> None:
    prefix, suffix = _split(case)
    assert missing_indentation(Hole(prefix, suffix, case["language"])) == case["lead"]


@pytest.mark.parametrize("case", [c for c in CASES if "raw" in c.values[0]])
async def test_through_the_engine(case: dict[str, str]) -> None:
    prefix, suffix = _split(case)
    lead = case["lead"]
    document = Document(prefix + suffix, "f", case["language"])
    position = position_at(document.text, len(prefix))
    mode = CompletionMode(case.get("mode", "auto"))
    options = CompletionOptions(mode=mode, use_context=False)
    plan = await _engine("").plan(document, position, options)
    block = plan.at_block
    assert plan.prefix == prefix and (block.lead if block else "") == lead
    at_block = block.prompt if block else None

    def reply(request: GenerationRequest) -> str:
        if request.prompt == at_block:
            return case.get("raw_at_block", case["raw"])
        return case["raw"]

    engine = _engine(reply)
    options = CompletionOptions(mode=mode, use_context=False)
    completion = await engine.complete(document, position, options)
    assert completion.text == case["expected"]
    # Asked at the real cursor first; again with the prefix ending at the block's indentation
    # when the reply started shallower. The edit starts at the real cursor either way.
    prompts = [r.prompt or "" for r in engine.backend.requests]  # type: ignore[attr-defined]
    assert prefix + "<|fim_suffix|>" in prompts[0]
    assert len(prompts) <= (2 if lead else 1)
    if "asks_again" in case:  # else post-processing may have moved the line there already
        assert len(prompts) == (2 if case["asks_again"] else 1)
    if len(prompts) == 2:
        assert prefix + lead + "<|fim_suffix|>" in prompts[1]
    assert completion.range.start == completion.range.end == position


DOC = '''def below_zero(operations):
    """Whether the balance falls below zero."""
    balance = 0
    for op in operations:
        balance += op
        if balance < 0:
            return True

    return False
'''
HOLE_LINE = 7  # the blank line between `return True` and `return False`


async def test_typing_the_indentation_and_code_follows_the_suggestion() -> None:
    engine = _engine("print(balance)\n")  # at column 0: moved to the block or asked again
    document = Document(DOC, "bank.py", "python")
    position = Position(HOLE_LINE, 0)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    first = await engine.complete(document, position, options)
    assert first.text == "    print(balance)"
    asked = len(engine.backend.requests)  # type: ignore[attr-defined]
    typed = "    pri"
    text = DOC.replace("\n\n    return False", f"\n{typed}\n    return False")
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    again = await engine.complete(
        Document(text, "bank.py", "python"), position_after(document, position, typed), options
    )
    assert again.cached and again.text == "nt(balance)"
    assert len(engine.backend.requests) == asked  # type: ignore[attr-defined]


async def test_the_early_first_line_carries_the_indentation() -> None:
    # At column 0 the model starts a new function: its first line is not shown early; asked
    # again at the block's indentation, it writes the body's code, shown early indented.
    def reply(request: GenerationRequest) -> str:
        if (request.prompt or "").endswith("True\n    <|fim_suffix|>", 0, _fim_at(request)):
            return "if balance == 0:\n        print('even')\n"
        return "def main():\n    print(below_zero([1]))\n"

    engine = _engine(reply)
    seen: list[Completion] = []
    options = CompletionOptions(mode=CompletionMode.MULTI_LINE, on_partial=seen.append)
    completion = await engine.complete(
        Document(DOC, "bank.py", "python"), Position(HOLE_LINE, 0), options
    )
    assert completion.text == "    if balance == 0:\n        print('even')"
    assert [c.text for c in seen] == ["    if balance == 0:"]


async def test_a_rejected_completion_stays_empty() -> None:
    # The model repeats the next line: rejected, and no bare indentation is offered instead.
    engine = _engine("return False\n")
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    completion = await engine.complete(
        Document(DOC, "bank.py", "python"), Position(HOLE_LINE, 0), options
    )
    assert completion.text == ""


def _fim_at(request: GenerationRequest) -> int:
    prompt = request.prompt or ""
    return prompt.index("<|fim_suffix|>") + len("<|fim_suffix|>")


def test_the_mode_is_decided_at_the_block_indentation() -> None:
    engine = _engine("")
    assert (
        engine.decide_mode(Document(DOC, "bank.py", "python"), Position(HOLE_LINE, 0))
        is CompletionMode.MULTI_LINE
    )


async def test_a_sampled_retry_of_top_level_code_is_not_shown() -> None:
    # Greedy: the next line again (rejected, at the right depth, so not asked at the block);
    # the seeded samples that follow write top-level code, which is not offered either.
    def reply(request: GenerationRequest) -> str:
        if request.seed is None:
            return "    return False\n"
        return '\nif __name__ == "__main__":\n    main()\n'

    config = Config(backend="fake")
    config.completion.latency_budget_ms = 0
    engine = CompletionEngine(FakeBackend(reply), config)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    completion = await engine.complete(
        Document(DOC, "bank.py", "python"), Position(HOLE_LINE, 0), options
    )
    assert completion.text == ""
    assert engine.stats.retries >= 1 and engine.stats.retry_successes == 0
