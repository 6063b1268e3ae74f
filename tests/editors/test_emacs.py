"""Real Emacs 28 in batch mode attached to ``codeslm lsp`` on the real model, through the
configs of editors/emacs: with Eglot (Debian's elpa-eglot) a completion is requested, picked
and inserted (Eglot applies the multi-line textEdit) and a docstring refactor runs through
Eglot's code actions; with lsp-mode (Debian's elpa-lsp-mode 8.0, before inline completion) a
completion comes through ``completion-at-point`` and its exit function."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from editor_session import editor_session

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("eglot_driver.el")
LSP_MODE_DRIVER = Path(__file__).with_name("lsp_mode_driver.el")


def _has(feature: str) -> bool:
    if shutil.which("emacs") is None:
        return False
    probe = subprocess.run(["emacs", "--batch", "-q", "--eval", f"(require '{feature})"],
                           capture_output=True, timeout=60)
    return probe.returncode == 0


pytestmark = pytest.mark.model


def _run_driver(driver: Path, tmp_path: Path, model_path: Path) -> dict:
    """Run ``driver`` in batch Emacs on a fresh project; its JSON result."""
    session = editor_session(tmp_path, model_path, HOME=str(tmp_path),
                             CODESLM_EDITORS_EMACS=str(REPO / "editors" / "emacs"))
    run = subprocess.run(["emacs", "--batch", "-q", "-l", str(driver)], env=session.env,
                         cwd=session.project, timeout=600, capture_output=True, text=True)
    assert session.out.exists(), run.stderr[-3000:]
    result = session.result()
    assert "error" not in result, (result["error"], run.stderr[-3000:])
    return result


@pytest.mark.skipif(not _has("eglot"),
                    reason="emacs with eglot is not installed (emacs-nox, elpa-eglot)")
def test_eglot_inserts_a_model_completion(tmp_path: Path, model_path: Path) -> None:
    result = _run_driver(DRIVER, tmp_path, model_path)
    assert result["managed"] is True and result["server_class"] == "codeslm-eglot-server"
    assert result["ready"] is True and result["status"] in ("ready", "slow")
    assert result["modeline"].startswith("codeslm:")
    assert result["candidates"] >= 1
    completed = result["after_completion"].split("\n")
    assert completed[0] == "def is_even(n):"
    assert completed[1].startswith("    ") and completed[1].strip(), completed
    assert any("docstring" in title for title in result["actions"]), result["actions"]
    refactored = result["after_refactor"].split("\n")
    assert refactored[0] == "def is_even(n):"
    assert refactored[1].strip().startswith(('"""', "'''")), refactored
    assert refactored[-len(completed) + 1:] == completed[1:]


@pytest.mark.skipif(not _has("lsp-mode"),
                    reason="emacs with lsp-mode is not installed (emacs-nox, elpa-lsp-mode)")
def test_lsp_mode_inserts_a_model_completion(tmp_path: Path, model_path: Path) -> None:
    result = _run_driver(LSP_MODE_DRIVER, tmp_path, model_path)
    assert result["started"] is True and result["servers"] == ["codeslm"]
    assert result["response_timeout"] >= 180 and result["default_response_timeout"] == 10
    assert result["ready"] is True and result["modeline"].startswith("codeslm:")
    assert result["candidates"] >= 1
    completed = result["after_completion"].split("\n")
    assert completed[0] == "def is_even(n):"
    assert completed[1].startswith("    ") and completed[1].strip(), completed
    assert "def is_even" not in "\n".join(completed[1:]), completed


@pytest.mark.skipif(not _has("lsp-mode"),
                    reason="emacs with lsp-mode is not installed (emacs-nox, elpa-lsp-mode)")
def test_lsp_mode_as_shipped_waits_for_a_slow_answer(tmp_path: Path) -> None:
    """A completion that takes longer than lsp-mode's 10 s default still arrives (a scripted
    backend answers in ~13 s, as a small model does on a slow or busy CPU)."""
    script = tmp_path / "slow.json"
    script.write_text(json.dumps({"replies": ["return n % 2 == 0\n"], "delay_s": 1.0}))
    config = tmp_path / "config.toml"
    config.write_text("[completion]\nlatency_budget_ms = 0\n")  # no deadline cuts it short
    session = editor_session(tmp_path, tmp_path / "unused.gguf", HOME=str(tmp_path),
                             CODESLM_EDITORS_EMACS=str(REPO / "editors" / "emacs"),
                             CODESLM_BACKEND="fake", CODESLM_FAKE_SCRIPT=str(script),
                             CODESLM_CONFIG=str(config))
    run = subprocess.run(["emacs", "--batch", "-q", "-l", str(LSP_MODE_DRIVER)],
                         env=session.env, cwd=session.project, timeout=600,
                         capture_output=True, text=True)
    assert session.out.exists(), run.stderr[-3000:]
    result = session.result()
    assert "error" not in result, (result["error"], run.stderr[-3000:])
    assert result["completion_seconds"] > result["default_response_timeout"]
    assert result["after_completion"].split("\n")[1] == "    return n % 2 == 0"
