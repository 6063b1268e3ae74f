"""``codeslm doctor`` and the model daemon it measures through (real daemon, real model): when
the measurement rejects the large model for this machine, a daemon the doctor started only to
measure it is stopped; one that was serving before is left alone. The speed is recorded, and
the commit prompt's head is prepared only for a model the machine keeps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from codeslm import paths
from codeslm.backends.daemon import runtime
from codeslm.backends.daemon.client import DaemonBackend
from codeslm.cli import build_parser, doctor, doctor_fit
from codeslm.config import Config, machine_fit, measured_speed


@pytest.fixture
def measured_too_slow(monkeypatch: pytest.MonkeyPatch, model_path: Path) -> Config:
    """The doctor measures ``model_path`` as the large model and finds it too slow."""
    config = Config(model=str(model_path))
    config.daemon.enabled = True
    monkeypatch.setattr(
        doctor_fit, "plan", lambda loaded, **kw: doctor_fit.FitPlan(config, decides=True)
    )
    monkeypatch.setattr(machine_fit, "keystroke_seconds", lambda prefill, decode: 9.9)
    return config


def _doctor() -> int:
    args = build_parser(["doctor"]).parse_args(["doctor"])
    return doctor.run(args)


def _serving(config: Config) -> bool:
    return runtime.ping(DaemonBackend(config).files()) is not None


def test_a_daemon_started_only_to_measure_a_rejected_model_is_stopped(
    measured_too_slow: Config,
) -> None:
    assert not _serving(measured_too_slow)
    _doctor()
    fit = machine_fit.read()
    assert fit is not None and fit.model == machine_fit.SMALL
    assert not _serving(measured_too_slow)
    # The speed it measured is kept for the commit hook, under the model's name.
    speed = measured_speed.read(DaemonBackend(measured_too_slow).spec().model_name)
    assert speed is not None and speed.prefill_tps > 0 and speed.decode_tps > 0
    # No commit will read the rejected model's head: none is evaluated or written.
    assert not list(paths.kv_dir().glob("*/*.kv"))


def test_a_kept_model_gets_the_commit_prompts_head(
    measured_too_slow: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(machine_fit, "keystroke_seconds", lambda prefill, decode: 0.1)
    try:
        _doctor()
        fit = machine_fit.read()
        assert fit is not None and fit.model == machine_fit.LARGE
        # On disk for the hook's first run.
        assert list(paths.kv_dir().glob("*/*.kv"))
    finally:
        runtime.stop(DaemonBackend(measured_too_slow).files())


def test_a_daemon_that_was_serving_before_is_left_alone(measured_too_slow: Config) -> None:
    backend = DaemonBackend(measured_too_slow)
    asyncio.run(backend.health())  # started and loaded, as an editor would have it
    try:
        _doctor()
        assert _serving(measured_too_slow)
    finally:
        runtime.stop(backend.files())
