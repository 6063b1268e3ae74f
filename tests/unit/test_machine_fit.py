"""The model `codeslm doctor` chooses for a machine: the rule, the record as a config layer, and
the doctor's plan (which models it measures and when it records the small one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm import fileio
from codeslm.cli import doctor_fit
from codeslm.cli.doctor_checks import Speed, verdict
from codeslm.config import load_config, machine_fit
from codeslm.runtime.models import registry
from codeslm.runtime.serving import machine

# The doctor's speeds for the two models on the 2-core development machine (stop 18), whose
# typing replays gave 0.29 s (0.5B) and 0.53 s (1.5B) per model-needing keystroke at p50.
SMALL_HERE = Speed(318, 218.0, 41.3)
LARGE_HERE = Speed(318, 99.5, 31.4)


def test_the_family_names_are_the_registrys() -> None:
    assert machine_fit.LARGE == registry.DEFAULT_MODEL
    assert machine_fit.SMALL == registry.SMALL_MODEL


def test_the_keystroke_estimate_reproduces_the_replays_it_was_fitted_to() -> None:
    small = machine_fit.keystroke_seconds(SMALL_HERE.prefill_tps, SMALL_HERE.decode_tps)
    large = machine_fit.keystroke_seconds(LARGE_HERE.prefill_tps, LARGE_HERE.decode_tps)
    assert small == pytest.approx(0.29, abs=0.02)
    assert large == pytest.approx(0.53, abs=0.02)
    assert verdict(LARGE_HERE).startswith("good: a keystroke that needs the model takes ~0.53 s")


def test_the_large_model_is_kept_when_fast_enough_and_dropped_when_not() -> None:
    kept = doctor_fit.decide(LARGE_HERE)
    assert kept.ok is True and machine_fit.read().model == machine_fit.LARGE
    # Half the speed (one core, or an older laptop): ~1.1 s per keystroke, over the bar.
    dropped = doctor_fit.decide(Speed(318, 50.0, 15.0))
    fit = machine_fit.read()
    assert fit is not None and fit.model == machine_fit.SMALL
    assert "too small for qwen2.5-coder-1.5b" in dropped.detail and "1.07 s" in fit.reason


def test_memory_needed_for_the_large_model_is_its_measured_rss_plus_headroom() -> None:
    size = registry.find_spec(registry.DEFAULT_MODEL).size
    assert machine_fit.memory_needed(size) / (1 << 30) == pytest.approx(2.32, abs=0.01)


def test_the_record_is_a_layer_below_every_file_and_variable(
    tmp_path: Path, isolated_home: Path
) -> None:
    machine_fit.write(machine_fit.Fit(machine_fit.SMALL, "slow here", "2026-12-07 10:00"))
    loaded = load_config(cwd=tmp_path, environ={})
    assert loaded.config.model == machine_fit.SMALL
    assert machine_fit.chosen_by_doctor(loaded.sources["model"])
    assert "slow here" in loaded.sources["model"]
    assert load_config(cwd=tmp_path, environ={"CODESLM_MODEL": "mine"}).config.model == "mine"
    (isolated_home / "config.toml").write_text('model = "qwen2.5-coder-1.5b"\n')
    loaded = load_config(cwd=tmp_path, environ={})
    assert loaded.sources["model"].endswith("config.toml")


@pytest.mark.parametrize("text", ["", "{", '{"model": 3}', '{"model": "other", "reason": "r", '
                                  '"measured_at": "t"}', "[1, 2]"])
def test_an_unreadable_record_leaves_the_default(tmp_path: Path, text: str) -> None:
    path = machine_fit.record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    loaded = load_config(cwd=tmp_path, environ={})
    assert (loaded.config.model, loaded.sources["model"]) == (machine_fit.LARGE, "default")


def test_a_failed_write_keeps_the_old_record(monkeypatch: pytest.MonkeyPatch) -> None:
    machine_fit.write(machine_fit.Fit(machine_fit.LARGE, "fast", "2026-12-07 10:00"))

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", full_disk)
    with pytest.raises(OSError):
        machine_fit.write(machine_fit.Fit(machine_fit.SMALL, "slow", "2026-12-07 11:00"))
    assert machine_fit.read().model == machine_fit.LARGE
    assert [p.name for p in machine_fit.record_path().parent.iterdir()] == ["machine-fit.json"]


def _plan(tmp_path: Path, environ: dict[str, str] | None = None, *, refit: bool = False,
          speed: bool = True) -> doctor_fit.FitPlan:
    return doctor_fit.plan(load_config(cwd=tmp_path, environ=environ or {}),
                           refit=refit, speed=speed)


def test_a_model_someone_chose_is_never_decided(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"CODESLM_MODEL": machine_fit.SMALL})
    assert not plan.decides and plan.config.model == machine_fit.SMALL
    assert plan.notes[0].detail == "model qwen2.5-coder-0.5b set by environment"
    assert machine_fit.read() is None
    served = _plan(tmp_path, {"CODESLM_BACKEND": "vllm"})
    assert not served.decides and served.notes == ()


def test_the_default_is_measured_unless_memory_rules_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine, "available_memory_gib", lambda: 8.0)
    plan = _plan(tmp_path)
    assert plan.decides and plan.config.model == machine_fit.LARGE and machine_fit.read() is None
    assert not _plan(tmp_path, speed=False).decides
    monkeypatch.setattr(machine, "available_memory_gib", lambda: 1.5)
    small = _plan(tmp_path)
    assert not small.decides and small.config.model == machine_fit.SMALL
    assert "1.5 GiB of memory free, the 1.5B needs about 2.3" in small.notes[0].detail
    assert machine_fit.read().model == machine_fit.SMALL


def test_an_earlier_choice_is_shown_and_measured_again_only_on_refit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine, "available_memory_gib", lambda: 8.0)
    machine_fit.write(machine_fit.Fit(machine_fit.SMALL, "slow here", "2026-12-07 10:00"))
    shown = _plan(tmp_path)
    assert not shown.decides and shown.config.model == machine_fit.SMALL
    assert "chosen for this machine on 2026-12-07 10:00 (slow here)" in shown.notes[0].detail
    again = _plan(tmp_path, refit=True)
    assert again.decides and again.config.model == machine_fit.LARGE


def test_the_default_missing_beside_a_cached_small_model_says_how_to_keep_it() -> None:
    from codeslm.errors import ModelNotFound
    from codeslm.runtime.models import resolve

    small = resolve.cached_path(registry.find_spec(registry.SMALL_MODEL))
    with pytest.raises(ModelNotFound) as alone:
        resolve.resolve(registry.DEFAULT_MODEL)
    assert "keep" not in (alone.value.hint or "")
    small.parent.mkdir(parents=True)
    small.write_bytes(b"GGUF")
    with pytest.raises(ModelNotFound) as beside:
        resolve.resolve(registry.DEFAULT_MODEL)
    assert 'keep the qwen2.5-coder-0.5b you have: put `model = "qwen2.5-coder-0.5b"`' in (
        beside.value.hint or "")


def test_a_choice_that_cannot_be_recorded_says_so_and_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full(fit: machine_fit.Fit) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(machine_fit, "write", full)
    shown = doctor_fit.decide(Speed(318, 50.0, 15.0))
    assert shown.ok is False and "No space left on device" in shown.detail
    assert 'set `model = "qwen2.5-coder-0.5b"` in your config' in shown.detail
    assert machine_fit.read() is None


async def test_the_speed_is_measured_twice_on_unrelated_prompts_and_the_faster_kept() -> None:
    """A busy second on one measurement must not decide the model: the faster of two wins."""
    from codeslm.backends.base import GenerationResult
    from codeslm.cli import doctor_checks
    from codeslm.types import GenerationRequest, Usage

    prompts: list[str] = []
    timings = iter([(4.0, 6.0), (3.0, 4.6)])  # (time to first token, total) per call

    class Timed:
        async def generate(self, request: GenerationRequest) -> GenerationResult:
            assert request.prompt is not None
            prompts.append(request.prompt)
            first, total = next(timings)
            usage = Usage(prompt_tokens=320, completion_tokens=48, cached_prompt_tokens=0,
                          time_to_first_token_s=first, total_s=total)
            return GenerationResult(text="x", finish_reason="length", usage=usage)

    speed = await doctor_checks.measure_speed(Timed())  # type: ignore[arg-type]
    assert len(prompts) == 2 and prompts[0][0] != prompts[1][0]  # nothing cached for #2
    assert speed.prefill_tps == pytest.approx(320 / 3.0)
    assert speed.decode_tps == pytest.approx(47 / 1.6)
