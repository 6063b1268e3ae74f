"""Whether the model daemon maps its model file or reads it (cold start against memory)."""

from __future__ import annotations

from pathlib import Path

from codeslm.backends.daemon.server import maps_model_file
from codeslm.config.machine_fit import SMALL_FILE_BYTES


def _sized(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)  # sparse: no disk used
    return path


def test_the_small_model_is_mapped_and_a_larger_one_read(tmp_path: Path) -> None:
    assert maps_model_file(_sized(tmp_path / "small.gguf", SMALL_FILE_BYTES))
    assert not maps_model_file(_sized(tmp_path / "large.gguf", SMALL_FILE_BYTES + 1))
    assert not maps_model_file(tmp_path / "missing.gguf")
