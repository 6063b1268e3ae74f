"""The engine's warm-ups and quick first window, on the scripted backend (fast; the real model
and the real language server are in test_lsp_daemon.py)."""

from __future__ import annotations

import asyncio

from codeslm.backends.fake import FakeBackend
from codeslm.completion.plan import QUICK_PREFIX_CHARS
from codeslm.completion.request import CompletionOptions
from codeslm.config import Config
from codeslm.engine import CompletionEngine
from codeslm.types import Document, Position

TEXT = "".join(f"def f{i}(x):\n    return x * {i}\n\n\n" for i in range(400)) + "def g(x):\n    "
END = Position(TEXT.count("\n"), 4)


def _engine(quick: bool, delay_s: float = 0.0) -> tuple[CompletionEngine, FakeBackend]:
    backend = FakeBackend("return x", delay_s=delay_s)
    backend.keeps_prompts = True  # as llama.cpp's prompt stash does
    config = Config(backend="fake")
    config.completion.fim_format = "qwen2.5-coder"
    return CompletionEngine(backend, config, quick_first=quick), backend


async def _settle(engine: CompletionEngine) -> None:
    for _ in range(100):
        await asyncio.sleep(0.05)
        if engine.warmer.task is None or engine.warmer.task.done():
            return


async def test_the_first_request_at_a_new_place_is_quick_then_the_full_prompt_is_warmed() -> None:
    engine, backend = _engine(quick=True)
    doc = Document(TEXT, "a.py", "python")
    await engine.complete(doc, END, CompletionOptions(use_cache=False))
    await _settle(engine)
    quick, warm = backend.requests
    assert not quick.warm and warm.warm and warm.max_tokens == 1
    assert len(quick.prompt or "") < QUICK_PREFIX_CHARS + 600 < len(warm.prompt or "")
    assert engine.stats.warmups == 1
    options = CompletionOptions(use_cache=False)
    await engine.complete(doc, END, options)  # warm here now: the full window
    assert backend.requests[-1].prompt == warm.prompt


async def test_a_warm_up_at_a_new_place_warms_the_quick_prompt_then_the_full_one() -> None:
    engine, backend = _engine(quick=True)
    doc = Document(TEXT, "a.py", "python")
    assert await engine.warm(doc, END)
    quick, full = backend.requests
    assert quick.warm and full.warm
    assert len(quick.prompt or "") < QUICK_PREFIX_CHARS + 600 < len(full.prompt or "")
    await engine.complete(doc, END, CompletionOptions(use_cache=False))
    assert backend.requests[-1].prompt == full.prompt  # both warm: the full window


async def test_typing_at_a_new_place_keeps_the_quick_window_until_the_full_one_is_warm() -> None:
    engine, backend = _engine(quick=True)
    options = CompletionOptions(use_cache=False)
    doc = Document(TEXT, "a.py", "python")
    await engine.complete(doc, END, options)
    engine.stop_warming(waiting_too=True)  # the next keystroke came before the warm-up ran
    typed = Document(TEXT + "re", "a.py", "python")
    at = Position(END.line, END.character + 2)
    await engine.complete(typed, at, options)
    assert len(backend.requests[-1].prompt or "") < QUICK_PREFIX_CHARS + 600  # still quick
    await _settle(engine)  # this time the full window's warm-up finishes
    assert backend.requests[-1].warm
    await engine.complete(typed, at, options)
    assert backend.requests[-1].prompt == backend.requests[-2].prompt  # the full one now


async def test_quick_first_needs_a_backend_that_keeps_prompts() -> None:
    backend = FakeBackend("return x")
    config = Config(backend="fake")
    config.completion.fim_format = "qwen2.5-coder"
    engine = CompletionEngine(backend, config, quick_first=True)
    await engine.complete(Document(TEXT, "a.py", "python"), END, CompletionOptions(use_cache=False))
    await _settle(engine)
    assert not engine.places.quick_first
    assert [r.warm for r in backend.requests] == [False]
    assert len(backend.requests[0].prompt or "") > QUICK_PREFIX_CHARS + 600


async def test_without_quick_first_a_warm_up_warms_the_full_prompt() -> None:
    engine, backend = _engine(quick=False)
    doc = Document(TEXT, "a.py", "python")
    assert await engine.warm(doc, END)
    await engine.complete(doc, END, CompletionOptions(use_cache=False))
    warmed, request = backend.requests
    assert warmed.warm and warmed.prompt == request.prompt
    assert len(request.prompt or "") > QUICK_PREFIX_CHARS + 600


async def test_without_quick_first_nothing_is_warmed_unasked() -> None:
    engine, backend = _engine(quick=False)
    await engine.complete(Document(TEXT, "a.py", "python"), END, CompletionOptions(use_cache=False))
    await _settle(engine)
    assert [r.warm for r in backend.requests] == [False] and engine.stats.warmups == 0


async def test_a_real_request_cancels_a_streaming_warm_up() -> None:
    engine, _backend = _engine(quick=False, delay_s=0.2)
    doc = Document(TEXT, "a.py", "python")
    engine.start_warming(doc, END)
    for _ in range(100):  # until the warm-up talks to the backend
        await asyncio.sleep(0.02)
        if engine.warmer.streaming:
            break
    warming = engine.warmer.task
    await engine.complete(doc, END, CompletionOptions(use_cache=False))
    assert warming is not None and warming.done() and not warming.result()
    assert engine.stats.warmups == 0


async def test_a_failing_backend_makes_the_warm_up_give_up_quietly() -> None:
    engine, _backend = _engine(quick=False)

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("backend down")

    engine.plan = broken  # type: ignore[method-assign,assignment]
    assert await engine.warm(Document(TEXT, "a.py", "python"), END) is False
