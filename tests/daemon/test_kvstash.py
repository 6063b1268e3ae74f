"""The prompt stash: going back to a prompt another one displaced costs no prefill, and the
answer from a restored cache is the answer of an exact evaluation (real model)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from codeslm.backends import kvreuse, kvstash
from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.types import GenerationRequest

from .helpers import evaluated, prefill_cancelled_after, refresh_of


def test_common_prefix() -> None:
    assert kvreuse.common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert kvreuse.common_prefix([], [1]) == 0
    assert kvreuse.common_prefix([1, 2], [1, 2]) == 2


def test_no_slots_leaves_everything_as_it_is() -> None:
    stash = kvstash.PromptStash(0)
    prompt = [1, 2, 3]
    assert stash.switch(object(), [9, 9], prompt) is prompt and not stash.entries


def test_a_cache_that_kv_insertion_will_reuse_is_not_copied_out() -> None:
    """The window's start moving on shares one token of prefix but keeps most of the cache
    through KV insertion: no copy. Without that knowledge the stash copies it out."""
    import numpy as np

    held = [1, *range(100, 1000)]
    ids = np.zeros(2048, dtype=np.intc)
    ids[: len(held)] = held
    llm = SimpleNamespace(input_ids=ids, n_tokens=len(held))
    tokens = [1, *range(300, 1000)]
    saved: list[list[int]] = []
    stash = kvstash.PromptStash(2)
    stash.keep = lambda llm, held, prompt: saved.append(held)  # type: ignore[method-assign]
    assert stash.switch(llm, tokens, held, kept=690) is held
    assert saved == []
    stash.switch(llm, tokens, held)
    assert saved == [held]


def test_a_full_stash_can_bring_back_its_oldest_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Going back to the oldest of two stashed prompts saves the held one first; making room
    for it must not lose the entry being brought back (it used to raise ValueError)."""
    import llama_cpp
    import numpy as np

    monkeypatch.setattr(llama_cpp, "llama_state_seq_get_size", lambda ctx, seq: 4)
    monkeypatch.setattr(llama_cpp, "llama_state_seq_get_data", lambda ctx, buf, size, seq: 4)
    restored: list[kvstash.Entry] = []
    monkeypatch.setattr(kvstash.PromptStash, "_restore", staticmethod(
        lambda llm, entry: restored.append(entry)))
    oldest, newer, held = ([base + i for i in range(200)] for base in (1000, 2000, 3000))
    ids = np.zeros(1024, dtype=np.intc)
    ids[:200] = held
    llm = SimpleNamespace(input_ids=ids, n_tokens=200, _ctx=SimpleNamespace(ctx=None))
    stash = kvstash.PromptStash(2)
    stash.entries = [kvstash.Entry(oldest, oldest, None, 4), kvstash.Entry(newer, newer, None, 4)]
    assert stash.switch(llm, [*oldest[:150], 7], held) == oldest
    assert restored and restored[0].held == oldest
    assert [e.held for e in stash.entries] == [newer, held]


def _prompt(module: str, anchor: str, extra: str = "") -> str:
    text = (Path(json.__file__).parent / module).read_text()
    cut = text.index("\n", text.index(anchor) + 80) + 1
    return (
        f"<|fim_prefix|>{text[max(0, cut - 2000) : cut]}{extra}<|fim_suffix|>"
        f"{text[cut : cut + 600]}<|fim_middle|>"
    )


@pytest.mark.model
async def test_going_back_to_a_displaced_prompt_reuses_its_stashed_cache(model_path: Path) -> None:
    """Two prompts that share nothing take turns (two places, two editors): the second visit
    to each evaluates almost nothing, through KV insertion too, and gives the exact answer."""
    config = Config()
    config.completion.kv_reuse = "insert"
    config.completion.kv_stash_slots = 2
    backend = LlamaCppBackend(config, model_path=model_path)
    exact = LlamaCppBackend(Config(), model_path=model_path)
    exact.stash.slots = 0
    a = _prompt("decoder.py", "def JSONObject(", "    ")
    b = _prompt("encoder.py", "def iterencode(", "        ")
    typed_a = _prompt("decoder.py", "def JSONObject(", "    pairs")
    try:

        async def ask(on: LlamaCppBackend, prompt: str) -> tuple[int, int, str]:
            result = await on.generate(
                GenerationRequest(prompt=prompt, max_tokens=10, stop=("\n",))
            )
            usage = result.usage
            assert usage.prompt_tokens is not None and usage.cached_prompt_tokens is not None
            return usage.prompt_tokens, usage.cached_prompt_tokens, result.text

        first_a = await ask(backend, a)
        first_b = await ask(backend, b)
        assert first_b[1] < 50  # nothing in common with a: evaluated in full
        again_a = await ask(backend, a)
        assert again_a[0] - again_a[1] <= 2, again_a  # restored from the stash
        assert again_a[2] == first_a[2]
        again_b = await ask(backend, b)  # and b came back the same way
        assert again_b[0] - again_b[1] <= 2 and again_b[2] == first_b[2]
        assert backend.stash.restores == 2
        # Typing at a after b: the stashed cache of a, then KV insertion for the typed word.
        typed = await ask(backend, typed_a)
        assert typed[0] - typed[1] <= 12 + refresh_of(config, model_path), typed
        assert backend.stash.restores == 3 and backend.insertions >= 1
        # A restored cache answers as an exact evaluation of the same prompt does.
        assert (await ask(exact, b))[2] == first_b[2]
        assert (await ask(exact, a))[2] == first_a[2]
    finally:
        await backend.aclose()
        await exact.aclose()


@pytest.mark.model
async def test_without_slots_a_displaced_prompt_is_evaluated_again(model_path: Path) -> None:
    config = Config()
    config.completion.kv_stash_slots = 0
    backend = LlamaCppBackend(config, model_path=model_path)
    a = _prompt("decoder.py", "def JSONObject(", "    ")
    b = _prompt("encoder.py", "def iterencode(", "        ")
    try:
        for prompt in (a, b):
            await backend.generate(GenerationRequest(prompt=prompt, max_tokens=2))
        result = await backend.generate(GenerationRequest(prompt=a, max_tokens=2))
        assert result.usage.prompt_tokens - result.usage.cached_prompt_tokens > 200
        assert backend.stash.restores == 0
    finally:
        await backend.aclose()


@pytest.mark.model
async def test_a_prompt_cancelled_while_evaluated_neither_hides_the_stash_nor_is_lost(
    model_path: Path,
) -> None:
    """The quick window and the full one warmed behind it take turns at a new place, and
    keystrokes cancel each while its prompt is being evaluated. The part of a prompt that was
    evaluated is stashed like any other cache, and a plan is never made from a prompt the
    cache holds only in part: the displaced prompt comes back from the stash."""
    config = Config()
    config.completion.kv_reuse = "insert"
    config.completion.kv_stash_slots = 2
    backend = LlamaCppBackend(config, model_path=model_path)
    other = (Path(json.__file__).parent / "encoder.py").read_text()[:800]
    a = _prompt("decoder.py", "def JSONObject(", "    ")
    # Different text first (a prefill, no insertion from a), then a's text: from b back to a
    # is a removal plus the keystroke, which a plan would take if b were wholly cached.
    b = a.replace("<|fim_prefix|>", f"<|fim_prefix|>{other}", 1)
    typed_a = _prompt("decoder.py", "def JSONObject(", "    pairs")
    try:
        await evaluated(backend, a)
        llm = backend._llm
        assert llm is not None
        with prefill_cancelled_after(llm, 256):  # a keystroke cancels b's prefill after 2 batches
            await backend.generate(GenerationRequest(prompt=b, max_tokens=4))
        part = int(llm.n_tokens)
        assert 256 <= part < 300
        assert await evaluated(backend, typed_a) <= 12 + refresh_of(config, model_path)
        assert backend.stash.restores == 1
        # b's evaluated part was stashed on the way: going back to b starts from it.
        assert await evaluated(backend, b) <= len(await backend.tokenize(b)) - part + 1
        assert backend.stash.restores == 2
    finally:
        await backend.aclose()
