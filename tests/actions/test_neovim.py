"""A user-defined action from a project's ``.codeslm.toml`` in real Neovim (Debian's 0.7,
headless) with editors/neovim attached to ``codeslm lsp``: the action is listed beside the
built-in ones in Neovim's code action menu, picked, run by the server and applied to the
buffer through ``workspace/applyEdit``. The model is scripted (fake backend) so the expected
buffer is known exactly; the built-in actions run on the real model in tests/editors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("nvim_user_action.lua")
SOURCE = "def total(xs):\n    return sum(xs)\n"
CONFIG = """\
[[actions]]
name = "shout"
title = "Shout it"
prompt = "SHOUT this {language} code: {selection}"
offered = "cursor"
mode = "insert_above"
"""


def _system_nvim() -> str | None:
    """Debian's nvim (the venv may hold a newer one)."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    return shutil.which("nvim", path=path)


NVIM = _system_nvim()


@pytest.mark.skipif(NVIM is None, reason="neovim is not installed (Debian package neovim)")
def test_a_configured_action_runs_from_neovims_code_action_menu(
    tmp_path: Path, isolated_home: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".git").mkdir()
    (project / ".codeslm.toml").write_text(CONFIG)
    target = project / "total.py"
    target.write_text(SOURCE)
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "rules": [{"contains": "SHOUT this python code", "reply": "# ADDS THEM ALL UP"}],
                "default": "pass\n",
            }
        )
    )
    out = tmp_path / "out.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update(
        CODESLM_HOME=str(isolated_home),
        CODESLM_BACKEND="fake",
        CODESLM_FAKE_SCRIPT=str(script),
        CODESLM_TEST_FILE=str(target),
        CODESLM_TEST_OUT=str(out),
        CODESLM_TEST_CMD=json.dumps([sys.executable, "-m", "codeslm", "lsp"]),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    subprocess.run(
        [
            str(NVIM),
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "--cmd",
            f"set rtp^={REPO / 'editors' / 'neovim'}",
            "-c",
            f"luafile {DRIVER}",
        ],
        env=env,
        cwd=project,
        timeout=180,
        check=True,
        capture_output=True,
    )
    result = json.loads(out.read_text())
    assert "error" not in result, result.get("error")
    assert result["ready"], result["status"]
    titles = result["titles"]
    assert "codeslm: Shout it for `total`" in titles  # beside the built-in actions
    assert "codeslm: Add or refresh docstring for `total`" in titles
    assert result["picked"] == "codeslm: Shout it for `total`"
    assert result["answered"] and result["command_result"].get("applied") is True, result
    assert result["lines"] == ["# ADDS THEM ALL UP", "def total(xs):", "    return sum(xs)"]
    assert target.read_text() == SOURCE  # the editor applied it to the buffer, not the disk
