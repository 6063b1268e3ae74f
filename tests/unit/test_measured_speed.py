"""The record of the local model's measured speed (what the commit hook sizes its prompt by)."""

from __future__ import annotations

import pytest

from codeslm import fileio
from codeslm.config import measured_speed
from codeslm.types import Usage


def test_a_written_speed_is_read_back_per_model() -> None:
    measured_speed.write("qwen2.5-coder-1.5b", 92.04, 13.456)
    measured_speed.write("qwen2.5-coder-0.5b", 218.0, 41.3)
    large = measured_speed.read("qwen2.5-coder-1.5b")
    assert large is not None and (large.prefill_tps, large.decode_tps) == (92.0, 13.46)
    assert large.seconds_for(92, 0) == pytest.approx(1.0)
    assert measured_speed.read("qwen2.5-coder-0.5b").prefill_tps == 218.0
    assert measured_speed.read("another-model") is None
    measured_speed.write("qwen2.5-coder-1.5b", 100.0, 20.0)  # a new measurement replaces it
    assert measured_speed.read("qwen2.5-coder-1.5b").decode_tps == 20.0


@pytest.mark.parametrize(
    "content",
    ["{not json", "[1, 2]", '{"m": {"prefill_tps": "fast"}}', '{"m": {"prefill_tps": 0, '
     '"decode_tps": 1, "measured_at": "x"}}', '{"m": 3}'],
)
def test_a_damaged_record_reads_as_unknown(content: str) -> None:
    path = measured_speed.record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    assert measured_speed.read("m") is None
    measured_speed.write("m", 50.0, 10.0)  # and the next measurement writes a good one
    assert measured_speed.read("m") is not None


def test_a_failed_write_keeps_the_old_record(monkeypatch: pytest.MonkeyPatch) -> None:
    measured_speed.write("m", 50.0, 10.0)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", full_disk)
    with pytest.raises(OSError):
        measured_speed.write("m", 99.0, 9.0)
    assert measured_speed.read("m").prefill_tps == 50.0
    assert [p.name for p in measured_speed.record_path().parent.iterdir()] == [
        "measured-speed.json"
    ]


def _usage(**fields: float) -> Usage:
    base = {"prompt_tokens": 300, "completion_tokens": 21, "cached_prompt_tokens": 100,
            "time_to_first_token_s": 1.0, "total_s": 2.0}
    return Usage(**{**base, **fields})  # type: ignore[arg-type]


def test_speed_from_one_generations_accounting() -> None:
    # 200 evaluated tokens in 1 s; 20 tokens after the first in the next second.
    assert measured_speed.from_usage(_usage()) == (200.0, 20.0)
    for too_little in (_usage(time_to_first_token_s=None), _usage(total_s=None),
                       _usage(prompt_tokens=120), _usage(completion_tokens=3),
                       _usage(total_s=1.0), Usage()):
        assert measured_speed.from_usage(too_little) is None


def test_learning_fills_a_missing_record_and_never_replaces_one() -> None:
    assert measured_speed.learn("m", _usage())
    assert measured_speed.read("m").prefill_tps == 200.0
    assert not measured_speed.learn("m", _usage(time_to_first_token_s=0.5))
    assert measured_speed.read("m").prefill_tps == 200.0
    assert not measured_speed.learn("other", _usage(completion_tokens=2))
    assert measured_speed.read("other") is None


def test_learning_on_a_read_only_disk_only_loses_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", full_disk)
    assert not measured_speed.learn("m", _usage())
    assert measured_speed.read("m") is None
