"""Chat prompt heads kept on disk: a model loaded cold reads the commit message's instruction
and example instead of evaluating them, and answers exactly as an exact evaluation (real
model); damaged or foreign files are ignored, writes are atomic and bounded."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from codeslm import paths
from codeslm.backends import kvcache, kvheads
from codeslm.backends.base import GenerationResult
from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.config.machine_fit import SMALL_FILE_BYTES
from codeslm.types import ChatMessage, GenerationRequest

SYSTEM = (
    "You write git commit messages. Reply with the commit message only, in the Conventional "
    "Commits format: a type (feat, fix, docs, style, refactor, perf, test, build, ci or chore), "
    "an optional scope in parentheses, a colon, and a short summary in the imperative mood. "
    "The first line has at most 72 characters."
)
EXAMPLE = (
    ChatMessage("user", "Files changed:\nM src/shop/cart.py (+1 -1)\n\nDiff:\n-        total += "
                "item.price\n+        total += item.price * item.quantity"),
    ChatMessage("assistant", "fix(cart): multiply item prices by their quantity"),
)


def _request(change: str, *, keep: bool = True) -> GenerationRequest:
    messages = (ChatMessage("system", SYSTEM), *EXAMPLE, ChatMessage("user", change))
    return GenerationRequest(messages=messages, max_tokens=16, seed=0, keep_head=keep)


FIRST = "Files changed:\nM README.md (+2 -0)\n\nDiff:\n+## Install\n+pip install tomli"
SECOND = "Files changed:\nM src/tomli/_parser.py (+1 -1)\n\nDiff:\n-    return None\n+    return {}"


def _head_files() -> list[Path]:
    return sorted(paths.kv_dir().glob("*/*.kv"))


async def _ask(
    model_path: Path, request: GenerationRequest, **settings: int
) -> tuple[GenerationResult, LlamaCppBackend]:
    """A freshly loaded model (as in a new process) answers ``request``; (result, backend)."""
    backend = LlamaCppBackend(Config(**settings), model_path=model_path)  # type: ignore[arg-type]
    try:
        return await backend.generate(request), backend
    finally:
        await backend.aclose()


async def test_a_cold_model_reads_the_head_another_one_wrote(model_path: Path) -> None:
    first, writer = await _ask(model_path, _request(FIRST))
    files = _head_files()
    assert len(files) == 1 and writer.heads_loaded == 0
    assert first.usage.cached_prompt_tokens == 0  # evaluated, in two steps: not reused

    again, reader = await _ask(model_path, _request(SECOND))
    exact, _ = await _ask(model_path, _request(SECOND, keep=False), kv_head_files=0)
    assert reader.heads_loaded == 1
    head = again.usage.cached_prompt_tokens or 0
    assert head >= kvheads.MIN_HEAD_TOKENS  # the system message and the example, not evaluated
    assert (again.usage.prompt_tokens or 0) - head < (exact.usage.prompt_tokens or 0) - 40
    assert again.text == exact.text and again.text.strip()
    assert _head_files() == files  # one file serves every change


async def test_a_damaged_head_file_is_removed_and_the_head_evaluated(model_path: Path) -> None:
    await _ask(model_path, _request(FIRST))
    (path,) = _head_files()
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte in the cached values
    path.write_bytes(bytes(data))

    result, backend = await _ask(model_path, _request(SECOND))
    exact, _ = await _ask(model_path, _request(SECOND, keep=False), kv_head_files=0)
    assert backend.heads_loaded == 0 and result.usage.cached_prompt_tokens == 0
    assert result.text == exact.text
    assert path.read_bytes() != bytes(data)  # written again, whole


async def test_without_head_files_nothing_is_written(model_path: Path) -> None:
    result, backend = await _ask(model_path, _request(FIRST), kv_head_files=0)
    assert result.text.strip() and backend.heads_loaded == 0 and not _head_files()


def test_auto_refresh_depends_on_the_model_file() -> None:
    assert kvcache.refresh_tokens(-1, SMALL_FILE_BYTES) == kvcache.AUTO_REFRESH_SMALL == 16
    assert kvcache.refresh_tokens(-1, 1_117_320_736) == kvcache.AUTO_REFRESH_LARGE == 16
    assert kvcache.refresh_tokens(0, 1_117_320_736) == 0  # a set value wins
    assert kvcache.refresh_tokens(12, SMALL_FILE_BYTES) == 12


async def test_the_loaded_model_gets_the_auto_refresh(model_path: Path) -> None:
    backend = LlamaCppBackend(Config(), model_path=model_path)
    try:
        await backend.tokenize("x")  # loads the model
        expected = kvcache.refresh_tokens(-1, model_path.stat().st_size)
        assert backend.cache.refresh == expected
    finally:
        await backend.aclose()


# -- the store without a model -------------------------------------------------------------


def _fake_state(monkeypatch: pytest.MonkeyPatch, payload: bytes) -> list[list[int]]:
    """copy_out returns ``payload``; copy_in records the tokens it was given."""
    loaded: list[list[int]] = []
    array = (ctypes.c_uint8 * len(payload)).from_buffer_copy(payload)
    monkeypatch.setattr(kvheads, "copy_out", lambda llm: (array, len(payload)))

    def copy_in(llm: object, state: object, size: int, held: list[int]) -> bool:
        assert bytes(state)[:size] == payload  # type: ignore[call-overload]
        loaded.append(held)
        return True

    monkeypatch.setattr(kvheads, "copy_in", copy_in)
    return loaded


def test_round_trip_and_foreign_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = _fake_state(monkeypatch, b"state" * 100)
    store = kvheads.HeadStore(tmp_path, "m")
    head = list(range(100))
    store.save(object(), head)
    assert store.load(object(), head) and loaded == [head] and store.loads == 1
    other = list(range(1, 101))
    os.replace(store.path_for(head), store.path_for(other))  # a file under another name
    assert not store.load(object(), other) and not store.path_for(other).exists()


def test_short_heads_are_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_state(monkeypatch, b"x" * 10)
    store = kvheads.HeadStore(tmp_path, "m")
    store.save(object(), list(range(kvheads.MIN_HEAD_TOKENS - 1)))
    assert not list(tmp_path.rglob("*.kv"))


def test_at_most_limit_files_least_recently_used_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_state(monkeypatch, b"x" * 10)
    store = kvheads.HeadStore(tmp_path, "m", limit=2)
    heads = [[n] * 80 for n in range(3)]
    for i, head in enumerate(heads):
        store.save(object(), head)
        os.utime(store.path_for(head), (1000 + i, 1000 + i))
    assert [store.path_for(h).exists() for h in heads] == [False, True, True]


def test_a_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_state(monkeypatch, b"x" * 10)
    store = kvheads.HeadStore(tmp_path, "m")
    store.folder.mkdir(parents=True)

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    store.save(object(), list(range(80)))  # logged, not raised
    assert list(store.folder.iterdir()) == [] and store.saves == 0


def test_the_model_key_changes_with_the_file_and_the_adapter(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"a")
    first = kvheads.model_key(str(model), None, "0.3")
    assert kvheads.model_key(str(model), None, "0.4") != first
    assert kvheads.model_key(str(model), str(tmp_path / "lora.gguf"), "0.3") != first
    model.write_bytes(b"ab")
    assert kvheads.model_key(str(model), None, "0.3") != first
