"""The engine's latency machinery on the scripted backend (fast; the real-model tests in
test_engine_real.py prove the same paths on llama.cpp)."""

from __future__ import annotations

import asyncio

import pytest

from codeslm.backends.fake import FakeBackend
from codeslm.completion.request import CompletionOptions
from codeslm.completion.scheduler import Superseded
from codeslm.config import Config
from codeslm.documents import position_after
from codeslm.engine import CompletionEngine
from codeslm.session import Session, open_session
from codeslm.types import Completion, CompletionMode, Document, Position

SOURCE = "def area(r):\n    return \n\n\nprint(area(2))\n"
CURSOR = Position(1, 11)


def _engine(script: object, *, delay_s: float = 0.0, **completion: object) -> CompletionEngine:
    config = Config(backend="fake")
    for key, value in completion.items():
        setattr(config.completion, key, value)
    return CompletionEngine(FakeBackend(script, delay_s=delay_s), config)  # type: ignore[arg-type]


def _doc(text: str = SOURCE, path: str | None = "geo.py") -> Document:
    return Document(text, path, "python")


async def test_post_processing_runs_on_the_streamed_text() -> None:
    engine = _engine("3.14159 * r * r\n\n\nprint(area(2))")
    completion = await engine.complete(_doc(), CURSOR)
    assert completion.mode is CompletionMode.SINGLE_LINE
    assert completion.text == "3.14159 * r * r"
    assert completion.raw.startswith("3.14159 * r * r\n")


async def test_typed_ahead_serves_the_rest_without_a_model_call() -> None:
    engine = _engine("3.14159 * r * r")
    backend = engine.backend
    assert isinstance(backend, FakeBackend)
    first = await engine.complete(_doc(), CURSOR)
    typed = "3.14"
    text = SOURCE.replace("return \n", f"return {typed}\n")
    again = await engine.complete(_doc(text), position_after(_doc(), CURSOR, typed))
    assert again.cached and again.text == first.text[len(typed):]
    assert len(backend.requests) == 1
    assert engine.stats.typed_ahead_hits == 1


async def test_typed_ahead_misses_when_something_else_changed() -> None:
    engine = _engine("3.14159 * r * r")
    await engine.complete(_doc(), CURSOR)
    edited = SOURCE.replace("return \n", "return 3.\n").replace("area(2)", "area(3)")
    assert engine.cached(_doc(edited), Position(1, 13)) is None
    other_text = SOURCE.replace("return \n", "return 2.\n")  # typed something else
    assert engine.cached(_doc(other_text), Position(1, 13)) is None
    assert engine.cached(_doc(path="other.py"), CURSOR) is None


async def test_prompt_cache_answers_an_identical_request() -> None:
    engine = _engine("3.14159 * r * r")
    await engine.complete(_doc(), CURSOR)
    again = await engine.complete(_doc(), CURSOR)
    assert again.cached and again.text == "3.14159 * r * r"
    assert len(engine.backend.requests) == 1  # type: ignore[attr-defined]
    fresh = await engine.complete(_doc(), CURSOR, CompletionOptions(use_cache=False))
    assert not fresh.cached and len(engine.backend.requests) == 2  # type: ignore[attr-defined]


def _session(script: object, *, delay_s: float = 0.0) -> tuple[Session, FakeBackend]:
    """A session over a scripted backend: its scheduler owns superseding."""
    backend = FakeBackend(script, delay_s=delay_s)  # type: ignore[arg-type]
    return open_session(Config(backend="fake"), backend_factory=lambda _c: backend), backend


async def test_a_newer_request_for_the_same_document_supersedes_the_older() -> None:
    words = " ".join(f"w{i}" for i in range(200))
    session, backend = _session(words, delay_s=0.01)
    engine, scheduler = session.engine, session.scheduler
    uncached = CompletionOptions(use_cache=False)
    older = asyncio.create_task(
        scheduler.run("geo.py", lambda: engine.complete(_doc(), CURSOR, uncached)))
    await asyncio.sleep(0.05)
    options = CompletionOptions(use_cache=False, max_tokens=3)
    newer = asyncio.create_task(
        scheduler.run("geo.py", lambda: engine.complete(_doc(), CURSOR, options)))
    first = await asyncio.wait_for(older, 2)
    assert first == Superseded("model")  # an explicit answer: nothing to show, no error
    assert backend.cancelled == 1  # the older stream was closed, not left running
    second = await asyncio.wait_for(newer, 5)
    assert isinstance(second, Completion) and second.text.startswith("w0")
    assert engine.stats.superseded == 1 and engine.stats is session.stats


async def test_requests_for_different_documents_run_side_by_side() -> None:
    engine = _engine("x + 1", delay_s=0.01)
    a = asyncio.create_task(engine.complete(_doc(path="a.py"), CURSOR))
    b = asyncio.create_task(engine.complete(_doc(path="b.py"), CURSOR))
    results = await asyncio.gather(a, b)
    assert [r.text for r in results] == ["x + 1", "x + 1"]


async def test_cancelling_the_caller_cancels_the_backend_stream() -> None:
    engine = _engine(" ".join(["tok"] * 500), delay_s=0.01)
    task = asyncio.create_task(engine.complete(_doc(), CURSOR))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert engine.backend.cancelled == 1  # type: ignore[attr-defined]


async def test_single_line_generation_stops_after_the_first_line() -> None:
    reply = "3.14159 * r * r\n" + "\n".join(f"x{i} = {i}" for i in range(100))
    engine = _engine(reply, delay_s=0.001)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    completion = await engine.complete(_doc(), CURSOR, options)
    assert completion.finish_reason == "early"
    assert completion.completion_tokens is not None and completion.completion_tokens < 20
    assert engine.backend.cancelled == 1  # type: ignore[attr-defined]


async def test_multi_line_stops_when_it_leaves_the_function_and_streams_the_first_line() -> None:
    text = "def area(r):\n\n\nprint(area(2))\n"
    reply = ("    pi = 3.14159\n    return pi * r * r\n\n\ndef volume(r):\n"
             "    return 4 / 3 * 3.14159 * r ** 3\n" + "# filler\n" * 50)
    engine = _engine(reply, delay_s=0.001)
    partial: list[str] = []
    options = CompletionOptions(mode=CompletionMode.MULTI_LINE,
                                on_partial=lambda c: partial.append(c.text))
    completion = await engine.complete(_doc(text), Position(1, 0), options)
    assert completion.text == "    pi = 3.14159\n    return pi * r * r"
    assert completion.finish_reason == "early"
    assert partial == ["    pi = 3.14159"]


async def test_early_stop_can_be_turned_off() -> None:
    reply = "3.14159 * r * r\nmore = 1\n"
    engine = _engine(reply)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, early_stop=False)
    completion = await engine.complete(_doc(), CURSOR, options)
    assert completion.raw == reply and completion.text == "3.14159 * r * r"
    assert completion.finish_reason == "stop"


async def test_deadline_ends_a_slow_stream_at_a_complete_line() -> None:
    reply = "    a = 1\n" + "".join(f"    v{i} = {i}\n" for i in range(300))
    engine = _engine(reply, delay_s=0.005, latency_budget_ms=150)
    text = "def f():\n\n"
    options = CompletionOptions(mode=CompletionMode.MULTI_LINE, max_tokens=2000)
    completion = await engine.complete(_doc(text), Position(1, 0), options)
    assert completion.finish_reason == "deadline"
    assert completion.text.startswith("    a = 1")
    assert completion.latency_s < 2


async def test_deadline_lowers_max_tokens_once_the_speed_is_known() -> None:
    engine = _engine("x", latency_budget_ms=500, max_tokens=64)
    options = CompletionOptions(mode=CompletionMode.MULTI_LINE)
    plan = await engine.plan(_doc(), Position(3, 0), options)
    assert plan.request.max_tokens == 64  # nothing measured yet
    engine.speed.decode_tokens_per_s = 20.0
    engine.speed.seconds_per_new_char = 0.0001
    options = CompletionOptions(mode=CompletionMode.MULTI_LINE)
    plan = await engine.plan(_doc(), Position(3, 0), options)
    assert 8 <= plan.request.max_tokens < 64
    engine.config.completion.latency_budget_ms = 0
    options = CompletionOptions(mode=CompletionMode.MULTI_LINE)
    plan = await engine.plan(_doc(), Position(3, 0), options)
    assert plan.request.max_tokens == 64


async def test_a_failing_partial_callback_does_not_break_the_completion() -> None:
    engine = _engine("    return 1\n    # done\n")

    def broken(_: object) -> None:
        raise RuntimeError("surface bug")

    options = CompletionOptions(mode=CompletionMode.MULTI_LINE, on_partial=broken)
    completion = await engine.complete(_doc("def f():\n\n"), Position(1, 0), options)
    assert completion.text.startswith("    return 1")


async def test_an_explicit_cancel_by_path() -> None:
    session, backend = _session(" ".join(["tok"] * 500), delay_s=0.01)
    engine, scheduler = session.engine, session.scheduler
    options = CompletionOptions(use_cache=False)
    task = asyncio.create_task(
        scheduler.run("geo.py", lambda: engine.complete(_doc(), CURSOR, options)))
    await asyncio.sleep(0.05)
    assert scheduler.cancel("geo.py")
    assert isinstance(await task, Superseded)
    assert not scheduler.cancel("geo.py")
    await asyncio.sleep(0)
    assert backend.cancelled == 1


def test_fast_model_serves_automatic_completions_only() -> None:
    from codeslm.session import config_for_use

    config = Config(model="qwen2.5-coder-1.5b")
    assert config_for_use(config, automatic=True) is config  # no fast model configured
    config.completion.fast_model = "qwen2.5-coder-0.5b"
    assert config_for_use(config, automatic=True).model == "qwen2.5-coder-0.5b"
    assert config_for_use(config, automatic=False).model == "qwen2.5-coder-1.5b"
    assert config.model == "qwen2.5-coder-1.5b"  # the original is untouched


AREA = "def area(r):\n\n    return result\n"


def _rejects_greedy(request):  # type: ignore[no-untyped-def]
    """The greedy answer repeats the next line of AREA (rejected); a sample is a new line."""
    if request.temperature <= 0:
        return "    return result\n"
    return "    result = 3.14159 * r * r\n"


async def test_a_rejected_completion_is_retried_with_seeded_samples() -> None:
    text = "def area(r):\n\n    return result\n"

    def script(request):  # type: ignore[no-untyped-def]
        if request.temperature <= 0:
            return "    return result\n"  # repeats the next line: rejected
        return "    result = 3.14159 * r * r\n" if request.seed == 2 else "    return result\n"

    engine = _engine(script)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    completion = await engine.complete(_doc(text), Position(1, 0), options)
    assert completion.text == "    result = 3.14159 * r * r"
    assert engine.stats.retries == 2 and engine.stats.retry_successes == 1
    seeds = [r.seed for r in engine.backend.requests]  # type: ignore[attr-defined]
    assert seeds == [None, 1, 2]

    engine = _engine(script, retries=0)
    options = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    completion = await engine.complete(_doc(text), Position(1, 0), options)
    assert completion.text == "" and engine.stats.retries == 0


async def test_a_request_sets_its_own_retries_and_a_rejected_answer_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``CompletionOptions.retries`` overrides ``completion.retries`` for one request (the
    language server's suggestions while typing pass ``lsp.automatic_retries``), and a
    completion that needed more than one model call leaves one log line saying so."""
    text = AREA
    script = _rejects_greedy
    engine = _engine(script)  # completion.retries = 2
    no_retry = CompletionOptions(mode=CompletionMode.SINGLE_LINE, retries=0)
    completion = await engine.complete(_doc(text), Position(1, 0), no_retry)
    assert completion.text == "" and engine.stats.retries == 0
    assert len(engine.backend.requests) == 1  # type: ignore[attr-defined]

    engine = _engine(script, retries=0)
    one_retry = CompletionOptions(mode=CompletionMode.SINGLE_LINE, retries=1)
    with caplog.at_level("INFO", logger="codeslm.completion.generation"):
        completion = await engine.complete(_doc(text), Position(1, 0), one_retry)
    assert completion.text == "    result = 3.14159 * r * r"
    assert engine.stats.retries == 1
    assert [r.getMessage().split(" in ")[0] for r in caplog.records] == [
        "completion at 2:1 took 2 model calls"
    ]


async def test_an_empty_typing_answer_does_not_answer_an_explicit_request() -> None:
    """A suggestion while typing (no retries) that came out empty is not what an explicit
    request at the same place gets from the caches: it retries. Its answer then serves the
    next suggestion there (the typed-ahead cache) without a model call."""
    text = AREA
    script = _rejects_greedy
    engine = _engine(script)  # completion.retries = 2
    typing = CompletionOptions(mode=CompletionMode.SINGLE_LINE, retries=0)
    explicit = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
    assert (await engine.complete(_doc(text), Position(1, 0), typing)).text == ""
    calls = len(engine.backend.requests)  # type: ignore[attr-defined]
    asked = await engine.complete(_doc(text), Position(1, 0), explicit)
    assert asked.text == "    result = 3.14159 * r * r" and not asked.cached
    assert len(engine.backend.requests) > calls  # type: ignore[attr-defined]
    calls = len(engine.backend.requests)  # type: ignore[attr-defined]
    again = await engine.complete(_doc(text), Position(1, 0), typing)
    assert again.cached and again.text == asked.text
    assert len(engine.backend.requests) == calls  # type: ignore[attr-defined]


async def test_a_call_spread_over_lines_is_streamed_to_its_end_and_joined() -> None:
    """In a single-line completion the stream is not stopped at the first newline while the
    call the model opened is still open; the call comes back on one line."""
    script = ("make_circle(\n        radius=r,\n        centre=(0, 0),\n    )\n\nprint(1)\n"
              + "x" * 40)
    engine = _engine(script)
    completion = await engine.complete(_doc(), CURSOR)
    assert completion.mode is CompletionMode.SINGLE_LINE
    assert completion.text == "make_circle(radius=r, centre=(0, 0))"
    assert "x" * 40 not in completion.raw  # stopped once the call closed
