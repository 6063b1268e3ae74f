"""The installed prepare-commit-msg and pre-push hooks, run by the real git.

These use the scripted backend so that they are fast and exact about *policy* (what is
touched, what is not, failing open, the hard timeout). The real model runs the same hooks in
test_git_real_model.py.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from codeslm.git import install as installer
from codeslm.git.repo import GitRepo

from .conftest import Repo, editor_that_copies


def _setup(repo: Repo, tmp_path: Path, reply: str = "feat: add the greeting module",
           **env: str) -> tuple[dict[str, str], Path]:
    installer.install(GitRepo(repo.path))
    editor, copy = editor_that_copies(tmp_path)
    hook_env = dict(repo.env, GIT_EDITOR=editor, CODESLM_BACKEND="fake",
                    CODESLM_FAKE_REPLY=reply)
    hook_env.update(env)
    return hook_env, copy


def test_plain_commit_gets_the_message_and_git_keeps_its_comments(repo: Repo,
                                                                  tmp_path: Path) -> None:
    env, copy = _setup(repo, tmp_path)
    repo.write("greet.py", "def hello():\n    return 'hi'\n")
    repo.write("package-lock.json", "{}\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", env=env)
    shown = copy.read_text()
    assert shown.startswith("feat: add the greeting module\n\n# codeslm: written by fake")
    assert "# codeslm: not sent to the model: package-lock.json (lockfile" in shown
    assert "# Please enter the commit message" in shown  # git's own lines are still there
    assert repo.last_message() == "feat: add the greeting module"


def test_messages_with_a_source_are_never_touched(repo: Repo, tmp_path: Path) -> None:
    env, copy = _setup(repo, tmp_path)
    repo.write("a.txt", "1\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "my own words", env=env)
    assert repo.last_message() == "my own words"
    # --amend: the editor sees the old message, not a generated one.
    repo.write("a.txt", "2\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "--amend", env=env)
    assert copy.read_text().startswith("my own words\n") and "codeslm" not in copy.read_text()
    assert repo.last_message() == "my own words"
    # -F and --amend --no-edit
    (tmp_path / "msg.txt").write_text("from a file\n")
    repo.write("b.txt", "b\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-F", str(tmp_path / "msg.txt"), env=env)
    assert repo.last_message() == "from a file"
    repo.git("commit", "-q", "--amend", "--no-edit", env=env)
    assert repo.last_message() == "from a file"
    # A merge keeps git's merge message.
    repo.git("checkout", "-q", "-b", "side")
    repo.write("side.txt", "s\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "side work", env=env)
    repo.git("checkout", "-q", "main")
    repo.write("main.txt", "m\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "main work", env=env)
    repo.git("merge", "-q", "--no-ff", "side", env=env)
    assert repo.last_message() == "Merge branch 'side'"
    # A squash merge keeps git's squash message.
    repo.git("checkout", "-q", "-b", "side2", "HEAD~1")
    repo.write("s2.txt", "x\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "squash me", env=env)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--squash", "side2", env=env)
    repo.git("commit", "-q", env=env)
    assert repo.last_message().startswith("Squashed commit of the following")


def test_no_edit_plain_commit_is_left_to_git(repo: Repo, tmp_path: Path) -> None:
    env, _ = _setup(repo, tmp_path)
    repo.write("a.txt", "1\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "--no-edit", env=env, check=False)
    assert proc.returncode != 0 and "empty commit message" in proc.stderr  # as without a hook


def test_backend_failures_let_the_commit_go(repo: Repo, tmp_path: Path) -> None:
    env, copy = _setup(repo, tmp_path, CODESLM_BACKEND="llama-cpp",
                       CODESLM_MODEL=str(tmp_path / "missing.gguf"), EDITOR_TYPES="fix: by hand")
    repo.write("a.txt", "1\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", env=env)
    assert "codeslm: no commit message (" in proc.stderr and "the commit goes on" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert repo.last_message() == "fix: by hand"
    assert "codeslm" not in copy.read_text()


def test_strict_hook_stops_the_commit(repo: Repo, tmp_path: Path) -> None:
    installer.install(GitRepo(repo.path), strict=True)
    editor, _ = editor_that_copies(tmp_path)
    env = dict(repo.env, GIT_EDITOR=editor, CODESLM_MODEL=str(tmp_path / "missing.gguf"),
               EDITOR_TYPES="fix: by hand")
    repo.write("a.txt", "1\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", env=env, check=False)
    assert proc.returncode != 0 and "stopping the commit (--strict)" in proc.stderr


def test_timeout_is_hard_and_fails_open(repo: Repo, tmp_path: Path) -> None:
    script = tmp_path / "slow.json"
    script.write_text(json.dumps({"replies": ["feat: " + "slow " * 200], "delay_s": 0.2}))
    env, _copy = _setup(repo, tmp_path, CODESLM_FAKE_SCRIPT=str(script), CODESLM_GIT_TIMEOUT_S="1",
                       EDITOR_TYPES="chore: typed by the user")
    repo.write("a.txt", "1\n")
    repo.git("add", "-A")
    started = time.monotonic()
    proc = repo.git("commit", "-q", env=env)
    elapsed = time.monotonic() - started
    assert "gave up after" in proc.stderr and "the commit goes on" in proc.stderr
    assert elapsed < 1 + 1.5 + 3  # timeout + watchdog grace + process start-up, generously
    assert repo.last_message() == "chore: typed by the user"


def test_hook_can_be_turned_off_by_config(repo: Repo, tmp_path: Path) -> None:
    env, copy = _setup(repo, tmp_path, CODESLM_GIT_HOOK="0", EDITOR_TYPES="chore: mine")
    repo.write("a.txt", "1\n")
    repo.git("add", "-A")
    proc = repo.git("commit", "-q", env=env)
    assert proc.stderr == "" and "codeslm" not in copy.read_text()


def test_comment_mode_leaves_a_suggestion_only(repo: Repo, tmp_path: Path) -> None:
    env, copy = _setup(repo, tmp_path, CODESLM_GIT_HOOK_WRITE="comment", EDITOR_TYPES="chore: x")
    repo.write("a.txt", "1\n")
    repo.git("add", "-A")
    repo.git("commit", "-q", env=env)
    assert "# feat: add the greeting module\n" in copy.read_text()
    assert repo.last_message() == "chore: x"


def test_pre_push_review_is_advisory(repo: Repo, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], env=repo.env, check=True)
    repo.git("remote", "add", "origin", str(remote))
    repo.write("a.py", "x = 1\n")
    repo.commit("feat: a")
    repo.git("push", "-q", "origin", "main")
    installer.install(GitRepo(repo.path), "pre-push")
    repo.write("a.py", "x = 1\nbreakpoint()\n")
    repo.commit("feat: debug")
    env = dict(repo.env, CODESLM_BACKEND="fake", CODESLM_FAKE_REPLY="NONE")
    proc = repo.git("push", "origin", "main", env=env)
    assert "a.py:2: medium: leftover breakpoint() [debug-code]" in proc.stderr
    assert repo.git("ls-remote", "origin", "main").stdout.split()[0] == repo.git(
        "rev-parse", "HEAD").stdout.strip()


def test_commit_all_and_verbose_use_what_git_will_commit(repo: Repo, tmp_path: Path) -> None:
    """`commit -a` stages into a temporary index (GIT_INDEX_FILE); `-v` adds a diff below a
    scissors line. The hook must describe the real change and keep the scissors part."""
    script = tmp_path / "rules.json"
    script.write_text(json.dumps({"rules": [{"contains": "+    return 'hello'",
                                             "reply": "fix: say hello"}],
                                  "default": "chore: the change was not in the prompt"}))
    env, copy = _setup(repo, tmp_path, CODESLM_FAKE_SCRIPT=str(script))
    repo.write("greet.py", "def hello():\n    return 'hi'\n")
    repo.commit("feat: greet")
    repo.write("greet.py", "def hello():\n    return 'hello'\n")  # not staged
    repo.git("commit", "-q", "-a", "-v", env=env)
    assert repo.last_message() == "fix: say hello"
    shown = copy.read_text()
    assert ">8" in shown and "+    return 'hello'" in shown.split(">8", 1)[1]
