"""KV insertion: the plan (pure) and the real model reusing the text after an edit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeslm.backends import kvreuse
from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.types import GenerationRequest

from .helpers import evaluated, prefill_cancelled_after, refresh_of


def test_an_insertion_keeps_the_prefix_and_the_tail() -> None:
    old = list(range(100))
    new = [*old[:40], 900, 901, 902, *old[40:]]
    plan = kvreuse.plan_insertion(old, new)
    assert plan is not None
    assert (plan.keep, plan.tail, plan.shift) == (40, 60, 3)
    assert plan.evaluated == 3 + 1  # the inserted tokens and the prompt's last one
    assert plan.reused == 40 + 59


def test_a_deletion_shifts_the_tail_back() -> None:
    old = list(range(100))
    new = old[:40] + old[45:]
    plan = kvreuse.plan_insertion(old, new)
    assert plan is not None and plan.shift == -5 and plan.evaluated == 1


def test_refreshed_tokens_are_evaluated_again() -> None:
    old = list(range(100))
    new = [*old[:40], 7, *old[40:]]
    plan = kvreuse.plan_insertion(old, new, refresh=8)
    assert plan is not None and plan.evaluated == 1 + 8 + 1 and plan.reused_tail == 51


def test_the_window_moving_on_is_a_removal_that_keeps_the_tail() -> None:
    """The prompt window's start moving on removes ~200 tokens after the header: the rest is
    reused (a removal keeps values computed with more text, not different text)."""
    old = [1, 2, 3, *range(100, 1000)]
    new = [1, 2, 3, *range(300, 1000)]
    plan = kvreuse.plan_insertion(old, new, refresh=8)
    assert plan is not None and plan.shift == -200 and plan.evaluated == 8 + 1
    too_far = [1, 2, 3, *range(100 + kvreuse.MAX_REMOVAL_TOKENS + 1, 1000)]
    assert kvreuse.plan_insertion(old, too_far) is None


def test_a_keystroke_that_moves_the_window_on_is_a_removal_then_an_insertion() -> None:
    """The start loses ~200 tokens (retokenized at the cut) while the cursor gains one: two
    steps, each evaluating only its edit and refreshed tokens, ending at the new prompt."""
    old = [1, 2, *range(100, 900), 5, *range(2000, 2300), 6]
    new = [1, 2, 77, *range(301, 900), 42, 5, *range(2000, 2300), 6]
    assert kvreuse.plan_insertion(old, new) is None  # two edits: no single plan
    steps = kvreuse.plan_steps(old, new, refresh=8)
    assert len(steps) == 2 and steps[-1][1] == new
    (removal, between), (edit, _) = steps
    assert removal.shift < -190 and edit.shift == 1
    # Between the steps: the header, the retokenized token, the old text from the cut on.
    assert between[:4] == [1, 2, 77, 301] and between[-302:] == old[-302:]
    assert kvreuse.evaluated_by(steps, new) <= 2 * 8 + 1 + 1 + 1
    # A paste is not approximated: after the removal, prefix reuse evaluates it and the rest.
    pasted = [1, 2, 77, *range(301, 900), *[42] * 80, 5, *range(2000, 2300), 6]
    steps = kvreuse.plan_steps(old, pasted)
    assert len(steps) == 1 and steps[0][0].shift < -190
    assert kvreuse.evaluated_by(steps, pasted) == 1 + len(pasted) - (3 + 599)


def test_a_context_block_appearing_with_a_keystroke_is_one_step_per_edit() -> None:
    """A definition block enters the prompt's context while the user types at the cursor:
    the block is inserted before the cached window text (reused, shifted), and the keystroke
    is another step; with little text after the cursor the last edit is left to prefix reuse."""
    block = list(range(5000, 5040))
    old = [1, 2, *range(100, 700), 5, *range(2000, 2300), 6]
    new = [1, 2, *block, *range(100, 700), 42, 43, 5, *range(2000, 2300), 6]
    steps = kvreuse.plan_steps(old, new, refresh=8)
    assert [plan.shift for plan, _ in steps] == [40, 2] and steps[-1][1] == new
    assert kvreuse.evaluated_by(steps, new) == (40 + 8) + (2 + 8) + 1
    near_end = [1, 2, *block, *range(100, 700), 42, 43, 5, 6]
    short_tail = [1, 2, *range(100, 700), 5, 6]  # the cursor at the end of the file
    steps = kvreuse.plan_steps(short_tail, near_end, refresh=8)
    assert len(steps) == 1 and steps[0][0].shift == 40
    # The block's step, then prefix reuse from the keystroke on (4 tokens).
    assert kvreuse.evaluated_by(steps, near_end) == (40 + 8) + 4
    too_many = [1, *block, 2, *range(100, 300), 9, *range(300, 500), 9, *range(500, 700),
                9, 5, *range(2000, 2300), 6]
    assert kvreuse.plan_steps(old, too_many) == []  # more edits than MAX_STEPS


def test_several_edits_that_move_a_fim_sentinel_are_not_planned() -> None:
    """The cursor moved (the sentinel 5, standing for <|fim_suffix|>, is elsewhere) while the
    text changed elsewhere too: reusing shifted entries across a moved sentinel would reuse
    text computed as the wrong part of the prompt, so prefix reuse evaluates it exactly. A
    context block with the keystroke moves no sentinel and is still planned."""
    sentinel = {5}.__contains__
    block = list(range(5000, 5040))
    old = [1, 2, *range(100, 700), 5, *range(2000, 2300), 6]
    typed = [1, 2, *block, *range(100, 700), 42, 43, 5, *range(2000, 2300), 6]
    assert len(kvreuse.plan_steps(old, typed, refresh=8, fixed=sentinel)) == 2
    moved = [1, 2, *block, *range(100, 650), 5, *range(650, 700), *range(2000, 2300), 6]
    assert len(kvreuse.plan_steps(old, moved, refresh=8)) >= 1  # without the rule: planned
    assert kvreuse.plan_steps(old, moved, refresh=8, fixed=sentinel) == []


@pytest.mark.parametrize("new", [
    [*list(range(100)), 5, 6],  # an extension: the prefix cache covers it
    list(range(100)),  # the same prompt
    list(range(50)) + [1000] * 60 + list(range(95, 100)),  # a short common tail
    list(range(20)) + [1000] * 60 + list(range(40, 100)),  # a paste: too large to approximate
    list(range(10)) + [1000] * 3 + list(range(70, 100)),  # a large removal with an insertion
])
def test_no_plan_where_prefix_reuse_is_as_good(new: list[int]) -> None:
    assert kvreuse.plan_insertion(list(range(100)), new) is None


def _prompt(extra: str) -> str:
    text = (Path(json.__file__).parent / "decoder.py").read_text()
    cut = text.index("\n", text.index("def JSONObject(") + 120) + 1
    return (f"<|fim_prefix|>{text[max(0, cut - 3000):cut]}{extra}<|fim_suffix|>"
            f"{text[cut:cut + 1000]}<|fim_middle|>")


@pytest.mark.model
async def test_the_real_model_reuses_the_tail_and_returns_to_the_exact_answer(
        model_path: Path) -> None:
    """Typing in the middle of a FIM prompt evaluates a few tokens, not the suffix; and going
    back to the first text through two insertions gives the first (exact) answer again, which
    checks that the cache's positions and sequences are put together right."""
    config = Config()
    config.completion.kv_reuse = "insert"
    backend = LlamaCppBackend(config, model_path=model_path)
    try:
        async def ask(extra: str) -> tuple[int, int, str]:
            result = await backend.generate(GenerationRequest(
                prompt=_prompt(extra), max_tokens=12, stop=("\n",)))
            usage = result.usage
            assert usage.prompt_tokens is not None and usage.cached_prompt_tokens is not None
            return usage.prompt_tokens, usage.cached_prompt_tokens, result.text

        first = await ask("    ")
        assert first[1] == 0
        typed = await ask("    pairs_append(")
        # Only the edit, the refreshed tokens after it and the last token are evaluated.
        limit = 12 + refresh_of(config, model_path)
        assert typed[0] - typed[1] <= limit, typed
        back = await ask("    ")
        assert back[0] - back[1] <= limit
        assert back[2] == first[2]
        assert backend.insertions == 2
    finally:
        await backend.aclose()


@pytest.mark.model
async def test_prefix_mode_never_inserts(model_path: Path) -> None:
    config = Config()
    config.completion.kv_reuse = "prefix"
    backend = LlamaCppBackend(config, model_path=model_path)
    try:
        await backend.generate(GenerationRequest(prompt=_prompt("    "), max_tokens=4))
        result = await backend.generate(GenerationRequest(prompt=_prompt("    x"), max_tokens=4))
        assert backend.insertions == 0
        assert result.usage.prompt_tokens - result.usage.cached_prompt_tokens > 100
    finally:
        await backend.aclose()


@pytest.mark.model
async def test_the_real_model_reuses_the_text_after_the_window_moved_on(model_path: Path) -> None:
    """The window's start moving on by a few lines (typing down a file) evaluates only the
    refreshed tokens, and the cache still matches the prompt: the next keystroke is exact
    prefix reuse plus its own tokens."""
    text = (Path(json.__file__).parent / "decoder.py").read_text()
    cut = text.index("\n", text.index("def JSONObject(") + 120) + 1
    start = max(0, cut - 3000)
    moved = text.index("\n", start + 750) + 1  # a quarter window on, at a line start

    def prompt(begin: int, extra: str = "    ") -> str:
        return (f"<|fim_prefix|>{text[begin:cut]}{extra}<|fim_suffix|>"
                f"{text[cut:cut + 1000]}<|fim_middle|>")

    config = Config()
    config.completion.kv_reuse = "insert"
    backend = LlamaCppBackend(config, model_path=model_path)
    try:
        async def ask(text: str) -> int:
            return await evaluated(backend, text, max_tokens=8)

        refresh = refresh_of(config, model_path)
        assert await ask(prompt(start)) > 500
        assert await ask(prompt(moved)) <= refresh + 2
        assert backend.insertions == 1
        assert await ask(prompt(moved, "    pairs")) <= refresh + 6
        # A keystroke that also moves the window on: a removal, then the typed character.
        assert await ask(prompt(start, "    pairs")) > 100  # back (the stash or a prefill)
        assert await ask(prompt(moved, "    pairs_")) <= 2 * refresh + 6
    finally:
        await backend.aclose()


# A definition from another file, as the context builder puts it before the current file.
SCANNER_BLOCK = "<|file_sep|>scanner.py\ndef py_make_scanner(context):\n    ...\n"


def _decoder_prompt(context: str, before: str, after: str) -> str:
    """A PSM prompt for json/decoder.py with ``context`` blocks before it."""
    return (
        f"<|repo_name|>json\n{context}<|file_sep|>decoder.py\n<|fim_prefix|>"
        f"{before}<|fim_suffix|>{after}<|fim_middle|>"
    )


@pytest.mark.model
async def test_the_real_model_reuses_the_window_when_a_context_block_appears(
    model_path: Path,
) -> None:
    """A definition block entering the context while the user types: the block and the
    keystroke are evaluated (with their refreshed tokens), not the window after the block."""
    text = (Path(json.__file__).parent / "decoder.py").read_text()
    cut = text.index("\n", text.index("def JSONObject(") + 120) + 1
    block = SCANNER_BLOCK

    def prompt(context: str, extra: str) -> str:
        return _decoder_prompt(context, text[cut - 3000 : cut] + extra, text[cut : cut + 1000])

    config = Config()
    config.completion.kv_reuse = "insert"
    backend = LlamaCppBackend(config, model_path=model_path)
    try:
        block_tokens = len(await backend.tokenize(block))
        refresh = refresh_of(config, model_path)
        first = await backend.generate(GenerationRequest(prompt=prompt("", "    pa"), max_tokens=4))
        assert (first.usage.prompt_tokens or 0) > 900
        result = await backend.generate(
            GenerationRequest(prompt=prompt(block, "    pairs"), max_tokens=4)
        )
        usage = result.usage
        assert usage.prompt_tokens is not None and usage.cached_prompt_tokens is not None
        evaluated = usage.prompt_tokens - usage.cached_prompt_tokens
        assert evaluated <= block_tokens + 2 * refresh + 6
    finally:
        await backend.aclose()


@pytest.mark.model
async def test_the_real_model_evaluates_exactly_when_the_cursor_moved_and_a_block_appeared(
    model_path: Path,
) -> None:
    """The cursor moved down two lines (``<|fim_suffix|>`` elsewhere) while a context block
    appeared: no multi-edit plan reuses text across the moved sentinel, and the answer is the
    one an exact evaluation gives."""
    text = (Path(json.__file__).parent / "decoder.py").read_text()
    cut = text.index("\n", text.index("def JSONObject(") + 120) + 1
    moved = text.index("\n", text.index("\n", cut) + 1) + 1
    block = SCANNER_BLOCK

    def prompt(context: str, at: int) -> str:
        return _decoder_prompt(context, text[cut - 3000 : at], text[at : cut + 1000])

    config = Config()
    config.completion.kv_reuse = "insert"
    backend = LlamaCppBackend(config, model_path=model_path)
    prefix_only = Config()
    prefix_only.completion.kv_reuse = "prefix"
    exact = LlamaCppBackend(prefix_only, model_path=model_path)
    try:
        await backend.generate(GenerationRequest(prompt=prompt("", cut), max_tokens=4))
        assert backend._llm is not None
        fim_ids = {(await backend.tokenize(t))[0] for t in ("<|fim_prefix|>", "<|fim_suffix|>")}
        assert fim_ids < kvreuse.sentinels(backend._llm)
        assert (await backend.tokenize("<|file_sep|>"))[0] not in kvreuse.sentinels(backend._llm)
        request = GenerationRequest(prompt=prompt(block, moved), max_tokens=12, stop=("\n",))
        answer = await backend.generate(request)
        assert backend.insertions == 0
        assert answer.text == (await exact.generate(request)).text
    finally:
        await backend.aclose()
        await exact.aclose()

def test_a_prompt_cached_in_part_keeps_the_evaluated_part_of_its_tail() -> None:
    """A keystroke cancelled the previous request while its suffix was being evaluated: the
    next keystroke reuses the part that was evaluated and evaluates the rest after it."""
    old = [*range(100), *range(1000, 1200)]
    new = [*range(100), 7, *range(1000, 1200)]
    (plan, _), = kvreuse.plan_steps(old, new, refresh=8, held=180)
    assert plan.keep == 100
    # The edit and the refreshed tokens, then what the cancelled request never reached.
    assert kvreuse.evaluated_by([(plan, new)], new, held=180) == 1 + 8 + (299 - 180) + 1
    assert kvreuse.plan_steps(old, new, refresh=8, held=105) == []  # nothing of the tail cached
    assert kvreuse.plan_steps(old, new, refresh=8, held=50) == []  # not even the prefix


@pytest.mark.model
async def test_the_real_model_keeps_typing_cheap_when_every_request_is_cancelled(
    model_path: Path,
) -> None:
    """Typing faster than the text after the cursor evaluates: each request is cancelled
    while its prompt is evaluated, and the next one goes on from what was evaluated instead of
    starting the suffix over (which never finished while the user kept typing)."""
    config = Config()
    config.completion.kv_reuse = "insert"
    refresh = refresh_of(config, model_path)
    backend = LlamaCppBackend(config, model_path=model_path)
    paste = "        # " + "the decoder reads one value at a time and keeps its end " * 6 + "\n"
    try:

        async def ask(extra: str) -> int:
            return await evaluated(backend, _prompt(extra))

        await ask("    ")
        llm = backend._llm
        assert llm is not None
        with prefill_cancelled_after(llm, 128):  # a paste: no plan, the prefill stops midway
            await backend.generate(GenerationRequest(prompt=_prompt(paste + "    "), max_tokens=4))
        part = int(llm.n_tokens)  # the prompt up to the paste's end and a part of the suffix
        whole = len(await backend.tokenize(_prompt(paste + "    p")))
        typed = await ask(paste + "    p")
        # The typed token and the refreshed ones, then what the cancelled request did not
        # reach; prefix reuse would evaluate the whole suffix again (~235 tokens).
        assert typed <= whole - part + refresh + 4, (typed, whole, part)
        assert backend.insertions >= 1
        assert await ask(paste + "    pa") <= 6 + refresh  # whole again: plain insertion
    finally:
        await backend.aclose()
