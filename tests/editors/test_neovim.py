"""Real Neovim (Debian's 0.7, headless) with editors/neovim attached to ``codeslm lsp`` on the
real model: a ghost-text suggestion is requested, shown and accepted into the buffer word,
line and rest (giving the same text as accepting it whole), and a docstring refactor runs
through Neovim's own code action flow (workspace/applyEdit) with its progress reaching the
plugin and the command's answer awaited rather than a fixed time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from editor_session import editor_session

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("nvim_driver.lua")


def _system_nvim() -> str | None:
    """Debian's nvim (the venv may hold a newer one, tested in test_neovim_012.py)."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p != venv_bin)
    return shutil.which("nvim", path=path)


NVIM = _system_nvim()

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(NVIM is None, reason="neovim is not installed (Debian package neovim)"),
]


def test_neovim_inserts_a_model_suggestion(tmp_path: Path, model_path: Path) -> None:
    session = editor_session(tmp_path, model_path, XDG_STATE_HOME=str(tmp_path / "state"),
                             XDG_CACHE_HOME=str(tmp_path / "cache"))
    subprocess.run(
        [str(NVIM), "--headless", "-u", "NONE", "-i", "NONE", "--cmd",
         f"set rtp^={REPO / 'editors' / 'neovim'}", "-c", f"luafile {DRIVER}"],
        env=session.env, cwd=session.project, timeout=900, check=True, capture_output=True,
    )
    result = session.result()
    assert "error" not in result, result.get("error")
    assert result["version"].startswith("0."), result["version"]
    assert result["filetype"] == "python"
    assert result["ready"] and result["status"]["state"] in ("ready", "slow"), result["status"]
    assert result["statusline"].startswith("codeslm: ")
    assert result["cursor_before"] == [2, 4]
    assert result["suggested"] and result["ghost_marks"] == 1
    # Word, then line, then the rest: the same text as accepting it whole.
    assert result["accepted_word"] is True and result["accepted_line"] is True
    assert result["after_word"] != result["after_line"] or "\n" not in result["suggestion"]
    assert result["accepted"] is True
    lines = result["after_completion"]
    assert lines == result["expected_after_completion"], (result["suggestion"], result)
    assert lines[0] == "def is_even(n):"
    assert lines[1].startswith("    ") and lines[1].strip(), lines  # model text was inserted
    first_word = result["after_word"][1].strip()
    assert first_word and lines[1].strip().startswith(first_word), (first_word, lines)
    assert result["answered"], result.get("action_titles")
    assert result["progress_seen"] > 0  # the refactor's progress reached the plugin
    assert result["command_result"].get("applied") is True, result["command_result"]
    assert result["refactored"], result.get("action_titles")
    assert "docstring" in result["action_title"]
    after = result["after_refactor"]
    assert after[0] == "def is_even(n):"
    assert after[1].strip().startswith(('"""', "'''")), after
    assert after[-len(lines) + 1:] == lines[1:]  # the suggestion is still there below it
