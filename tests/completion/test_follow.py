"""The follow-up: completing ahead where a suggestion the user is typing through and Enter
lead (scripted backend; the typing replay in benchmarks/lsp_typing.py measures it through a
real language server)."""

from __future__ import annotations

import asyncio

from codeslm.backends.fake import FakeBackend
from codeslm.completion.follow import follow_place, next_indent
from codeslm.completion.request import CompletionOptions
from codeslm.config import Config
from codeslm.documents import position_after
from codeslm.engine import CompletionEngine
from codeslm.types import Document, Position

SOURCE = "def total(xs):\n    s = 0\n    for x in \n    return s\n"
CURSOR = Position(2, 13)  # after "for x in "
AHEAD = "def total(xs):\n    s = 0\n    for x in sorted(xs):\n        \n    return s\n"
AHEAD_AT = Position(3, 8)
FOLLOW = CompletionOptions(follow=True)


def _script(request):  # type: ignore[no-untyped-def]
    assert request.prompt is not None
    if "sorted(xs):\n        " in request.prompt:
        return "s += x\n"
    return "sorted(xs):\n"


def _engine(script: object = _script, delay_s: float = 0.0) -> CompletionEngine:
    return CompletionEngine(FakeBackend(script, delay_s=delay_s), Config(backend="fake"))  # type: ignore[arg-type]


def _doc(text: str) -> Document:
    return Document(text, "total.py", "python")


def _requests(engine: CompletionEngine) -> int:
    backend = engine.backend
    assert isinstance(backend, FakeBackend)
    return len(backend.requests)


def test_the_place_is_the_next_line_at_the_editors_indentation() -> None:
    place = follow_place(SOURCE, SOURCE.index("in \n") + 3, "sorted(xs):", "python")
    assert place is not None and place.text == AHEAD
    assert place.text[: place.offset].endswith("sorted(xs):\n        ")
    assert next_indent("        return s", "python") == "    "
    assert next_indent("    x = f(", "python") == "        "
    assert next_indent("  if (a) {", "c") == "      " and next_indent("  a();", "c") == "  "
    # Text after the cursor on its line, or a suggestion of nothing: no clear next place.
    assert follow_place("x = \nend\n", 3, "1", "python") is None
    assert follow_place("x = 1\n", 2, "1 +", "python") is None
    assert follow_place("x = \n", 4, "  ", "python") is None


async def _typed(engine: CompletionEngine, typed: str) -> None:
    """The user types ``typed`` at the cursor: a request answered by the typed-ahead cache."""
    text = SOURCE.replace("in \n", f"in {typed}\n")
    hit = await engine.complete(_doc(text), position_after(_doc(SOURCE), CURSOR, typed), FOLLOW)
    assert hit.cached


async def test_the_next_line_is_waiting_when_the_user_gets_there() -> None:
    engine = _engine()
    shown = await engine.complete(_doc(SOURCE), CURSOR, FOLLOW)
    assert shown.text == "sorted(xs):" and _requests(engine) == 1
    assert engine.warmer.task is None  # a fresh suggestion: most are typed over
    await _typed(engine, "s")  # typing through it: now it is likely taken
    assert engine.warmer.task is not None
    assert await engine.warmer.task  # the follow-up, once the engine is idle
    assert engine.stats.follow_ups == 1 and _requests(engine) == 2
    ahead = await engine.complete(_doc(AHEAD), AHEAD_AT, FOLLOW)
    assert ahead.cached and ahead.text.strip() == "s += x"
    assert _requests(engine) == 2  # no model call at the new line
    assert engine.stats.follow_up_hits == 1


async def test_typing_through_the_suggestion_does_not_stop_the_follow_up() -> None:
    engine = _engine(delay_s=0.05)
    await engine.complete(_doc(SOURCE), CURSOR, FOLLOW)
    await _typed(engine, "s")
    follow_up = engine.warmer.task
    assert follow_up is not None
    for typed in ("so", "sor", "sort"):
        await asyncio.sleep(0.2)  # the user's pace: the follow-up starts between keystrokes
        await _typed(engine, typed)
    assert engine.warmer.task is follow_up  # the same place: not started again
    assert await follow_up and engine.stats.follow_ups == 1


async def test_a_request_that_needs_the_model_stops_the_follow_up() -> None:
    engine = _engine(delay_s=0.05)  # a model call streams for about half a second
    await engine.complete(_doc(SOURCE), CURSOR, FOLLOW)
    await _typed(engine, "s")
    follow_up = engine.warmer.task
    assert follow_up is not None
    await asyncio.sleep(0.3)  # idle, then talking to the backend
    elsewhere = SOURCE.replace("s = 0", "s = 1")  # an edit: no cache answers it
    await engine.complete(_doc(elsewhere), CURSOR)
    assert not await follow_up and engine.stats.follow_ups == 0
    assert engine.cached(_doc(AHEAD), AHEAD_AT) is None


async def test_no_follow_up_unless_asked_or_without_a_next_place() -> None:
    engine = _engine()
    await engine.complete(_doc(SOURCE), CURSOR)  # the CLI and evaluations do not ask
    text = SOURCE.replace("in \n", "in s\n")
    assert (await engine.complete(_doc(text), position_after(_doc(SOURCE), CURSOR, "s"))).cached
    assert engine.warmer.task is None
    mid_line = SOURCE.replace("for x in \n", "for x in  # items\n")
    await engine.complete(_doc(mid_line), CURSOR, FOLLOW)
    typed = mid_line.replace("in  #", "in s #")
    assert (await engine.complete(_doc(typed), Position(2, 14), FOLLOW)).cached
    assert engine.warmer.task is None
