"""A message prepared on the real default model (``codeslm commit-msg --prepare``) is the one
the real ``git commit``'s hook shows, without loading the model again.

The hook runs with a timeout far below what loading the model takes, so a hook that called the
model would give up and leave no message: the commit would fail for an empty message.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codeslm.git import install as installer
from codeslm.git.conventional import is_valid
from codeslm.git.prepared import Store
from codeslm.git.repo import GitRepo

from ..conftest import codeslm_command
from .conftest import Repo, editor_that_copies

pytestmark = pytest.mark.model


def test_prepared_on_the_real_model_then_shown_by_the_hook(
    repo: Repo, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = dict(repo.env)
    env.update({k: v for k, v in cli_env.items() if k.startswith("CODESLM_")})
    installer.install(GitRepo(repo.path))
    repo.write("temperature.py", "def c_to_f(celsius):\n    return celsius * 9 / 5 + 32\n")
    repo.commit("feat: add celsius to fahrenheit")
    repo.write(
        "temperature.py",
        "def c_to_f(celsius):\n    return celsius * 9 / 5 + 32\n\n\n"
        "def f_to_c(fahrenheit):\n    return (fahrenheit - 32) * 5 / 9\n",
    )
    repo.git("add", "-A")
    proc = subprocess.run(
        [*codeslm_command(), "commit-msg", "--prepare", "--json"],
        cwd=repo.path,
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    prepared = json.loads(proc.stdout)["message"]
    assert is_valid(prepared), prepared
    assert len(list(Store.of(GitRepo(repo.path)).directory.glob("*.json"))) == 1
    editor, copy = editor_that_copies(tmp_path)
    hook_env = dict(env, GIT_EDITOR=editor, CODESLM_GIT_TIMEOUT_S="0.5", CODESLM_LOG="info")
    commit = repo.git("commit", "-q", env=hook_env)
    assert repo.last_message() == prepared.strip()
    shown = copy.read_text()
    assert "# codeslm: written by qwen2.5-coder-0.5b" in shown and "ahead of the commit" in shown
    assert "prepared ahead of the commit, no model call" in commit.stderr
