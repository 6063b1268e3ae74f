"""The quick first window's size: chosen from the measured prompt speed at a new place, kept
while the requests stay there (so their prompts share a cache)."""

from __future__ import annotations

from codeslm.backends.fake import FakeBackend
from codeslm.completion.deadline import ThroughputTracker
from codeslm.completion.plan import QUICK_PREFIX_CHARS, Planner
from codeslm.completion.request import CompletionOptions, Cursor
from codeslm.config import Config
from codeslm.types import Document, Position

TEXT = "".join(f"value_{i} = compute(value_{i - 1}, {i})  # step {i}\n" for i in range(300))


def _planner() -> Planner:
    return Planner(FakeBackend(""), Config(backend="fake"), ThroughputTracker())


async def _prefix_at(planner: Planner, line: int, path: str = "a.py") -> str:
    document = Document(TEXT, path, "python")
    cursor = Cursor.at(TEXT, Position(line, 4))
    plan = await planner.plan(document, cursor, CompletionOptions(), quick=True)
    return plan.prefix


async def test_the_quick_window_shrinks_for_a_slow_model_at_a_new_place_only() -> None:
    planner = _planner()
    full_quick = await _prefix_at(planner, 200)  # nothing measured: the whole quick window
    assert QUICK_PREFIX_CHARS * 3 // 4 - 60 <= len(full_quick) <= QUICK_PREFIX_CHARS
    # A model that evaluates 450 prompt tokens in ~7.4 s (the 1.5B on two cores).
    planner.speed.record_prompt(450, 7.4)
    same_place = await _prefix_at(planner, 201)
    assert len(same_place) > QUICK_PREFIX_CHARS // 2  # kept: the requests here share a cache
    elsewhere = await _prefix_at(planner, 100)
    assert planner.quick_scale == 1 / 3
    assert len(elsewhere) <= QUICK_PREFIX_CHARS // 3
    # Quick enough again (the 0.5B on an idle machine): a new place gets the whole window.
    for _ in range(10):
        planner.speed.record_prompt(450, 2.4)
    assert len(await _prefix_at(planner, 150, "b.py")) > QUICK_PREFIX_CHARS // 2
    assert planner.quick_scale == 1.0


def test_short_prompt_evaluations_are_not_measured() -> None:
    speed = ThroughputTracker()
    speed.record_prompt(20, 0.5)  # mostly fixed overhead
    assert speed.seconds_per_prompt_token is None
    speed.record_prompt(200, 1.0)
    assert speed.seconds_per_prompt_token == 0.005
