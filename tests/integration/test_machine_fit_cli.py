"""The doctor's model choice for this machine, through the real CLI on the real 0.5B model.

No model is configured here (no ``CODESLM_MODEL``): the default applies, or the doctor's record.
The isolated cache holds the verified 0.5B (linked from the real cache) and not the 1.5B.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codeslm.config import machine_fit
from tests.integration.test_cli import SAMPLE, run

pytestmark = pytest.mark.model


@pytest.fixture
def unconfigured(cli_env: dict[str, str], model_path: Path, isolated_home: Path) -> dict[str, str]:
    """The CLI's environment with no model setting and the 0.5B alone in the model cache."""
    models = isolated_home / "models"
    models.mkdir()
    (models / model_path.name).symlink_to(model_path)
    marker = model_path.with_name(model_path.name + ".verified")
    shutil.copy(marker, models / marker.name)
    env = dict(cli_env)
    del env["CODESLM_MODEL"]
    return env


def test_a_machine_the_doctor_found_too_small_completes_with_the_small_model(
    unconfigured: dict[str, str], tmp_path: Path
) -> None:
    machine_fit.write(machine_fit.Fit(machine_fit.SMALL, "the 1.5B would take ~1.10 s per "
                                      "keystroke", "2026-12-07 10:00"))
    doctor = run(["doctor", "--no-speed"], unconfigured, tmp_path)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    lines = doctor.stdout.splitlines()
    assert any(line.split()[:2] == ["-", "fit"] and "qwen2.5-coder-0.5b chosen for this machine "
               "on 2026-12-07 10:00" in line for line in lines), doctor.stdout
    assert "model       qwen2.5-coder-0.5b:" in doctor.stdout
    shown = json.loads(run(["config", "show", "--json"], unconfigured, tmp_path).stdout)
    assert shown["values"]["model"] == machine_fit.SMALL
    assert shown["sources"]["model"].startswith("codeslm doctor (2026-12-07 10:00: the 1.5B")
    (tmp_path / "m.py").write_text(SAMPLE)
    done = run(["complete", "m.py:2:12", "--json"], unconfigured, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"].strip()


def test_measuring_again_without_the_default_model_fetched_says_how_and_keeps_the_record(
    unconfigured: dict[str, str], tmp_path: Path
) -> None:
    earlier = machine_fit.Fit(machine_fit.SMALL, "slow here", "2026-12-07 10:00")
    machine_fit.write(earlier)
    doctor = run(["doctor", "--refit", "--no-speed"], unconfigured, tmp_path)
    assert doctor.returncode == 1
    failed = next(line for line in doctor.stdout.splitlines() if line.startswith("FAIL"))
    assert "qwen2.5-coder-1.5b" in failed and "codeslm models pull" in failed, doctor.stdout
    assert "Traceback" not in doctor.stderr
    assert machine_fit.read() == earlier
