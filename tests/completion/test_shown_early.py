"""Suggestions shown early: what the model has written by ``show_within_s`` is answered, the
generation goes on in the background, and typing through the shown text gets the rest without
a model call (scripted backend; the real 0.5B is in test_engine_real.py, the language server
over stdio in tests/lsp/test_lsp_server_fake.py, the typing replay in benchmarks/).

The scripted backend streams one word, space or sign per ``delay_s``."""

from __future__ import annotations

import asyncio

from codeslm.backends.fake import FakeBackend
from codeslm.completion.request import CompletionOptions
from codeslm.completion.shown_early import early_raw, early_text
from codeslm.config import Config
from codeslm.documents import position_after
from codeslm.engine import CompletionEngine
from codeslm.types import CompletionMode, Document, Position

SOURCE = "def pick(items, default):\n    \n    return default\n"
CURSOR = Position(1, 4)
LINE = "chosen = sorted(items, key=lambda item: item.weight, reverse=True)"
SINGLE = CompletionMode.SINGLE_LINE
EARLY = CompletionOptions(mode=SINGLE, show_within_s=0.25)


def _engine(reply: object = LINE + "\n", delay_s: float = 0.03) -> CompletionEngine:
    backend = FakeBackend(reply, delay_s=delay_s)  # type: ignore[arg-type]
    return CompletionEngine(backend, Config(backend="fake"))


def _doc(text: str = SOURCE) -> Document:
    return Document(text, "pick.py", "python")


def _backend(engine: CompletionEngine) -> FakeBackend:
    assert isinstance(engine.backend, FakeBackend)
    return engine.backend


def _typed(typed: str) -> tuple[Document, Position]:
    """The document after the user typed ``typed`` at the cursor, and the cursor then."""
    text = SOURCE.replace("\n    \n", f"\n    {typed}\n", 1)
    return _doc(text), position_after(_doc(), CURSOR, typed)


def test_what_is_shown_of_a_generation_still_running() -> None:
    # Post-processing closes what the model left open; the rest of the line will.
    assert early_text("    x = sorted(items,)", "    x = sorted(items,") == "    x = sorted(items,"
    assert early_text("n = f(a)", "n = f(a") == "n = f(a"
    assert early_text("f(a)", "f(a") is None  # too little to show
    # A line in the middle of a word: without the word (it may be the start of a longer one).
    assert early_raw("chosen = sorted(ite", SINGLE, []) == "chosen = sorted("
    assert early_raw("total = price * quan", SINGLE, []) == "total = price *"
    # Too little to show yet: a lone token.
    assert early_raw("chos", SINGLE, []) is None
    assert early_raw("x = f", SINGLE, []) is None
    # A multi-line completion shows its whole lines.
    raw = "if x:\n        return 1\n    el"
    lines = ["if x:", "        return 1"]
    assert early_raw(raw, CompletionMode.MULTI_LINE, lines) == "if x:\n        return 1\n"
    # Without a whole line yet, its first line as for a single line.
    assert early_raw("for item in ite", CompletionMode.MULTI_LINE, []) == "for item in"


async def test_a_long_line_is_shown_early_and_typing_through_it_gets_the_rest() -> None:
    engine = _engine()
    shown = await engine.complete(_doc(), CURSOR, EARLY)
    assert shown.finish_reason == "continuing"
    assert shown.latency_s < 0.6  # the whole line streams for ~1 s
    assert LINE.startswith(shown.text) and len(shown.text) < len(LINE)
    assert not shown.text.endswith(("i", "it", "ite"))  # not cut inside a word
    rest = engine.warmer.task
    assert rest is not None and await rest
    assert engine.stats.shown_early == 1 and engine.stats.finished_late == 1
    # The user types the shown text through (or accepts it): the rest, no model call.
    document, cursor = _typed(shown.text)
    after = await engine.complete(document, cursor, EARLY)
    assert after.cached and shown.text + after.text == LINE
    assert len(_backend(engine).requests) == 1
    # Asking again at the same place gets the whole line from memory.
    again = await engine.complete(_doc(), CURSOR, EARLY)
    assert again.text == LINE and len(_backend(engine).requests) == 1


async def test_typing_through_while_the_rest_is_written_does_not_stop_it() -> None:
    engine = _engine()
    shown = await engine.complete(_doc(), CURSOR, EARLY)
    rest = engine.warmer.task
    assert rest is not None
    document, cursor = _typed(shown.text[:3])  # typed before the rest is done
    early_hit = await engine.complete(document, cursor, EARLY)
    assert early_hit.cached and early_hit.text == shown.text[3:]
    assert engine.warmer.task is rest and not rest.done()
    assert await rest
    document, cursor = _typed(shown.text[:4])
    later = await engine.complete(document, cursor, EARLY)
    assert later.cached and shown.text[:4] + later.text == LINE
    assert len(_backend(engine).requests) == 1


async def test_a_request_that_needs_the_model_stops_the_rest() -> None:
    engine = _engine()
    await engine.complete(_doc(), CURSOR, EARLY)
    rest = engine.warmer.task
    assert rest is not None
    elsewhere = SOURCE.replace("return default", "return None")  # an edit: no cache answers it
    await engine.complete(_doc(elsewhere), CURSOR)
    assert (await asyncio.gather(rest, return_exceptions=True))[0] is not True
    await asyncio.sleep(0.01)  # its stream is closed as it ends
    assert _backend(engine).cancelled == 1 and engine.stats.finished_late == 0
    # What was shown early stays typed-ahead; the line is not remembered whole.
    document, cursor = _typed(LINE[:30])  # beyond what was shown
    assert engine.cached(document, cursor) is None


async def test_quick_answers_and_requests_without_the_option_wait_for_the_whole_line() -> None:
    engine = _engine()
    whole = await engine.complete(_doc(), CURSOR, CompletionOptions(mode=SINGLE))  # the CLI
    assert whole.text == LINE and whole.finish_reason != "continuing"
    assert engine.warmer.task is None
    short = _engine("n = 1\n", delay_s=0.1)  # under six characters by the time: it waits
    options = CompletionOptions(mode=SINGLE, show_within_s=0.05)
    answer = await short.complete(_doc(), CURSOR, options)
    assert answer.text == "n = 1" and answer.finish_reason != "continuing"
    assert short.stats.shown_early == 0


async def test_a_multi_line_suggestion_is_shown_by_whole_lines() -> None:
    body = "for item in items:\n        if item:\n            return item\n"
    engine = _engine(body, delay_s=0.05)
    options = CompletionOptions(mode=CompletionMode.MULTI_LINE, show_within_s=0.5)
    shown = await engine.complete(_doc(), CURSOR, options)
    assert shown.finish_reason == "continuing"
    assert shown.text.rstrip("\n") in ("for item in items:", "for item in items:\n        if item:")
    rest = engine.warmer.task
    assert rest is not None and await rest
    document, cursor = _typed(shown.text)
    after = await engine.complete(document, cursor, options)
    assert after.cached and (shown.text + after.text).strip() == body.strip()


async def test_a_failing_backend_after_an_early_answer_costs_only_the_rest() -> None:
    engine = _engine()
    backend = _backend(engine)
    backend.fail_after_chunks = 14  # dies after the answer was shown
    shown = await engine.complete(_doc(), CURSOR, EARLY)
    assert shown.finish_reason == "continuing"
    rest = engine.warmer.task
    assert rest is not None and not await rest  # logged, not raised
    document, cursor = _typed(shown.text[:2])
    hit = await engine.complete(document, cursor, EARLY)  # the shown part still types ahead
    assert hit.cached and shown.text[:2] + hit.text == shown.text
    await asyncio.sleep(0)


async def test_closing_the_session_stops_the_rest() -> None:
    from codeslm.session import open_session

    backend = FakeBackend(LINE + "\n", delay_s=0.03)
    session = open_session(Config(backend="fake"), backend_factory=lambda _c: backend)
    shown = await session.engine.complete(_doc(), CURSOR, EARLY)
    rest = session.engine.warmer.task
    assert shown.finish_reason == "continuing" and rest is not None
    await session.aclose()
    await asyncio.gather(rest, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert rest.done() and backend.cancelled == 1  # the stream was closed, not left running
