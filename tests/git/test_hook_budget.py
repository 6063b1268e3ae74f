"""The hook's diff budget: the setting, or for 0 (auto) one sized for the model's file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codeslm.config import Config
from codeslm.git.ahead import hook_budget
from codeslm.types import ModelInfo


class _Served:
    """A backend as far as the budget looks at one: the model it serves."""

    def __init__(self, path: str | None) -> None:
        self._path = path

    async def model_info(self) -> ModelInfo:
        return ModelInfo("m", 4096, path=self._path)


def _sparse(path: Path, size: int) -> str:
    with path.open("wb") as fh:
        fh.truncate(size)
    return str(path)


@pytest.mark.parametrize(("size", "tokens"), [
    (491_400_064, 512),  # the 0.5B: what fits 8 s on two cores
    (98_362_432, 512),  # smaller models get no more than the 0.5B
    (1_117_320_768, 225),  # the 1.5B default
    (20_000_000_000, 128),  # never under the floor
])
def test_auto_scales_with_the_model_file(tmp_path: Path, size: int, tokens: int) -> None:
    backend = _Served(_sparse(tmp_path / "m.gguf", size))
    assert asyncio.run(hook_budget(Config(), backend)) == tokens  # type: ignore[arg-type]


def test_a_set_budget_wins_and_an_unknown_file_gets_the_reference(tmp_path: Path) -> None:
    config = Config()
    config.git.hook_max_diff_tokens = 300
    big = _Served(_sparse(tmp_path / "m.gguf", 1_117_320_768))
    assert asyncio.run(hook_budget(config, big)) == 300  # type: ignore[arg-type]
    for served in (_Served(None), _Served(str(tmp_path / "gone.gguf"))):
        assert asyncio.run(hook_budget(Config(), served)) == 512  # type: ignore[arg-type]
