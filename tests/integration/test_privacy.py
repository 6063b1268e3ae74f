"""No cloud calls: the main commands run under a guard that refuses non-loopback connections."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, codeslm_command

GUARD = REPO / "tests" / "netguard"


def guarded_env(base: dict[str, str], log: Path) -> dict[str, str]:
    env = dict(base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(GUARD), env.get("PYTHONPATH")]))
    env["CODESLM_NET_GUARD_LOG"] = str(log)
    return env


def test_the_guard_catches_a_real_attempt(tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    env = guarded_env(dict(os.environ), log)
    code = ("import socket\ntry:\n    socket.create_connection(('93.184.216.34', 80), timeout=1)\n"
            "except OSError:\n    pass\n")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
    assert "93.184.216.34" in log.read_text()


@pytest.mark.model
def test_main_commands_make_no_network_connections(cli_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "net.log"
    env = guarded_env(cli_env, log)
    sample = tmp_path / "s.py"
    sample.write_text("def double(x):\n    return \n")
    commands = [
        ["complete", f"{sample}:2:12"],
        ["gen", "-x", "--max-tokens", "48", "a function that doubles a number"],
        ["doctor"],
        ["models"],
        ["config", "show"],
    ]
    for args in commands:
        result = subprocess.run([*codeslm_command(), *args], env=env, cwd=tmp_path, text=True,
                                capture_output=True, timeout=300)
        assert result.returncode == 0, (args, result.stderr)
    assert not log.exists() or log.read_text() == "", log.read_text()
