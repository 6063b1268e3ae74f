"""The git commands as a user runs them (subprocesses, scripted backend, real git)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ..conftest import codeslm_command
from .conftest import Repo


def _run(repo: Repo, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*codeslm_command(), *args], cwd=repo.path, text=True,
                          capture_output=True, env=dict(repo.env, **env), timeout=120,
                          check=False)


def test_commit_msg_prints_a_message_and_notes(repo: Repo) -> None:
    repo.write("app.py", "x = 1\n")
    repo.write("yarn.lock", "# lock\n")
    repo.git("add", "-A")
    proc = _run(repo, "commit-msg", "--backend", "fake", CODESLM_FAKE_REPLY="Add the app.")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "feat: add the app\n"
    assert "note: not sent to the model: yarn.lock (lockfile" in proc.stderr
    data = json.loads(_run(repo, "commit-msg", "--json", "--backend", "fake",
                           CODESLM_FAKE_REPLY="fix: x").stdout)
    assert data["message"] == "fix: x" and data["strategy"] == "full"


def test_commit_msg_errors_are_one_line(repo: Repo, tmp_path: Path) -> None:
    proc = _run(repo, "commit-msg", "--backend", "fake")
    assert proc.returncode == 2 and proc.stderr.startswith("error: there are no changes")
    proc = subprocess.run([*codeslm_command(), "commit-msg"], cwd=tmp_path, text=True,
                          capture_output=True, env=repo.env, check=False)
    assert proc.returncode == 2 and "not inside a git work tree" in proc.stderr
    repo.write("a.py", "a = 1\n")
    repo.git("add", "-A")
    proc = _run(repo, "commit-msg", CODESLM_MODEL=str(tmp_path / "missing.gguf"))
    assert proc.returncode == 3 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_review_formats_output_file_and_strict(repo: Repo) -> None:
    repo.write("a.py", "def f():\n    breakpoint()\n")
    repo.git("add", "-A")
    proc = _run(repo, "review", "--no-model")
    assert proc.returncode == 0
    assert proc.stdout == "a.py:2: medium: leftover breakpoint() [debug-code]\n"
    out = repo.path / "review.sarif"
    proc = _run(repo, "review", "--no-model", "--format", "sarif", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert json.loads(out.read_text())["runs"][0]["results"][0]["ruleId"] == "debug-code"
    assert _run(repo, "review", "--no-model", "--strict").returncode == 1
    repo.commit("feat: f")
    assert _run(repo, "review", "--no-model", "--range", "HEAD").returncode == 0
    proc = _run(repo, "review", "--no-model")
    assert proc.returncode == 0 and "nothing to review" in proc.stderr
    proc = _run(repo, "review", "--backend", "fake", "--range", "nope..HEAD")
    assert proc.returncode == 2 and "unknown revision 'nope'" in proc.stderr


def test_review_picks_up_pre_commit_push_range(repo: Repo) -> None:
    repo.write("a.py", "a = 1\n")
    first = repo.commit("feat: a")
    repo.write("a.py", "a = 1\nimport pdb\n")
    second = repo.commit("feat: b")
    proc = _run(repo, "review", "--no-model", "--format", "json",
                PRE_COMMIT_FROM_REF=first, PRE_COMMIT_TO_REF=second)
    data = json.loads(proc.stdout)
    assert data["target"] == f"{first}..{second}"
    assert [(f["path"], f["line"]) for f in data["findings"]] == [("a.py", 2)]


def test_hook_install_cli_refuses_a_foreign_hook(repo: Repo) -> None:
    hook = repo.path / ".git" / "hooks" / "prepare-commit-msg"
    hook.write_text("#!/bin/sh\nexit 0\n")
    proc = _run(repo, "hook", "install")
    assert proc.returncode == 2 and "another tool's hook; not replaced" in proc.stderr
    assert "hint: pass --chain" in proc.stderr
    proc = _run(repo, "hook", "install", "--chain")
    assert proc.returncode == 0 and "chained" in proc.stdout
