"""Training examples never quote a held-out file: the builder's ``hidden`` files are empty to
the context provider while prompts are made (no training run: the engine's prompts only)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from codeslm.config import Config
from codeslm.context.index import WorkspaceIndex
from codeslm.tune import examples as ex

from .sample_repo import MODULES, make_repo
from .tiny import load_tokenizer

# Money is defined here and used by every other module: the definition the context provider
# reaches for first, so a leak would show.
HIDDEN = "shop/money.py"
MARKS = ("self.cents * factor", "def times(", "def zero(")


@pytest.fixture(scope="module")
def tokenizer(model_path: Path) -> Any:
    """The default model's real tokenizer (from the real caches, like ``tiny_model``)."""
    saved = os.environ.pop("CODESLM_HOME", None)
    try:
        return load_tokenizer()
    finally:
        if saved is not None:
            os.environ["CODESLM_HOME"] = saved


def _prompts(repo: Path, tokenizer: Any, hidden: list[str]) -> list[ex.Example]:
    index = WorkspaceIndex.open(repo, Config().context)
    try:
        index.refresh()
        train = sorted(p for p in MODULES if p != HIDDEN)
        backend = ex.TokenizerBackend(tokenizer)
        builder = ex.ExampleBuilder(index, Config(), backend, hidden=hidden)
        holes = ex.pick_holes(index, train, seed=0, lines_per_hole=1)
        return asyncio.run(builder.build_all(holes, limit=10**6))
    finally:
        index.close()


def test_held_out_files_never_appear_as_context(tmp_path: Path, tokenizer: Any) -> None:
    repo = make_repo(tmp_path / "repo")
    open_ = _prompts(repo, tokenizer, [])
    leaked = [e for e in open_ if any(m in e.prompt for m in MARKS)]
    # The check can fail: without hiding, Money's file is context for some holes.
    assert leaked, "no prompt quoted shop/money.py even unhidden: the test proves nothing"
    hidden = _prompts(repo, tokenizer, [HIDDEN])
    assert len(hidden) == len(open_)
    for e in hidden:
        assert e.path != HIDDEN
        assert f"<|file_sep|>{HIDDEN}" not in e.prompt, e.prompt
        assert not any(m in e.prompt for m in MARKS), e.prompt
