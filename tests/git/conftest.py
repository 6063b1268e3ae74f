"""Real git repositories in temporary folders, isolated from the user's git configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EDITOR_SCRIPT = """#!/bin/sh
# Stands in for the user's editor: keeps a copy of what git shows; with EDITOR_TYPES set it
# types that text above everything, as a user writing their own message would.
cp "$1" "{copy}"
if [ -n "$EDITOR_TYPES" ]; then
    {{ printf '%s\\n' "$EDITOR_TYPES"; cat "{copy}"; }} > "$1"
fi
"""


class Repo:
    """A work tree plus helpers; every git call uses the isolated environment."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        self.env = env

    def git(self, *args: str, check: bool = True, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["git", *args], cwd=self.path, env=env or self.env, text=True,
                              capture_output=True, check=False, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    def write(self, name: str, text: str | bytes) -> Path:
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path

    def commit(self, message: str, *files: str) -> str:
        self.git("add", *(files or ("-A",)))
        self.git("commit", "-q", "--no-verify", "-m", message)
        return self.git("rev-parse", "HEAD").stdout.strip()

    def last_message(self) -> str:
        return self.git("log", "-1", "--format=%B").stdout.strip()


def git_env(home: Path) -> dict[str, str]:
    """The environment for git in tests: no user/system config, a fixed identity."""
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / "gitconfig"
    gitconfig.write_text("[user]\n\tname = Test\n\temail = test@example.com\n"
                         "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update({
        "GIT_CONFIG_GLOBAL": str(gitconfig),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_EDITOR": "true",
        # The codeslm the hooks run is the interpreter running the tests.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    })
    return env


@pytest.fixture
def gitenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = git_env(tmp_path / "git-home")
    for name in list(os.environ):
        if name.startswith(("GIT_", "PRE_COMMIT")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", env["GIT_CONFIG_GLOBAL"])
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return env


@pytest.fixture
def repo(tmp_path: Path, gitenv: dict[str, str]) -> Repo:
    """An empty repository (unborn ``main``)."""
    path = tmp_path / "work"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], env=gitenv, check=True)
    return Repo(path, gitenv)


def editor_that_copies(tmp_path: Path) -> tuple[str, Path]:
    """A GIT_EDITOR script that copies the message file to the returned path."""
    copy = tmp_path / "seen-by-editor.txt"
    script = tmp_path / "editor.sh"
    script.write_text(EDITOR_SCRIPT.format(copy=copy))
    script.chmod(0o755)
    return str(script), copy
