"""The prepared-message store and its key, in real repositories (no model: a scripted backend).

What matters: a message is found only for exactly the change, base, model and settings it was
written for (a stale one is a miss), a broken entry is a miss and never an error, entries are
written whole, and the store stays small.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from codeslm.backends.fake import FakeBackend
from codeslm.cli.commit_msg import _HOOK_STAT_LINES
from codeslm.config import Config
from codeslm.git import ahead
from codeslm.git import install as installer
from codeslm.git.changes import collect
from codeslm.git.message import _STAT_LINES_HOOK
from codeslm.git.prepared import KEEP, Store, key_for, new_entry
from codeslm.git.repo import GitRepo

from ..conftest import codeslm_command
from .conftest import Repo, editor_that_copies

TWO = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"


def _staged(repo: Repo) -> GitRepo:
    repo.write("calc.py", "def add(a, b):\n    return a + b\n")
    repo.commit("feat: add the calculator")
    repo.write("calc.py", TWO)
    repo.git("add", "calc.py")
    return GitRepo(repo.path)


def _key(git: GitRepo, config: Config, comment_char: str = "#") -> str:
    return key_for(git.head(), collect(git, config), config, comment_char=comment_char)


def test_the_key_follows_everything_the_prompt_is_made_of(repo: Repo) -> None:
    git = _staged(repo)
    config = Config()
    key = _key(git, config)
    assert key == _key(git, Config()) and len(key) == 64
    # Settings the hook uses only after the model answered do not change it.
    assert _key(git, Config(git=type(config.git)(timeout_s=30.0, hook_write="comment"))) == key
    assert _key(git, config, comment_char=";") != key
    assert _key(git, Config(model="qwen2.5-coder-0.5b")) != key
    assert _key(git, Config(backend="fake")) != key
    assert _key(git, Config(git=type(config.git)(hook_max_diff_tokens=256))) != key
    # Another staged content, or the same content on another base, is another key.
    repo.write("calc.py", "def add(a, b):\n    return a + b  # sum\n")
    repo.git("add", "calc.py")
    assert _key(git, config) != key
    repo.git("reset", "-q")
    repo.write("calc.py", TWO)
    repo.git("add", "calc.py")
    assert _key(git, config) == key
    repo.git("commit", "-q", "--allow-empty", "-m", "chore: another base")
    assert _key(git, config) != key


def test_a_model_file_replaced_under_the_same_name_is_another_model(
    repo: Repo, tmp_path: Path
) -> None:
    git = _staged(repo)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF" + b"\0" * 16)
    key = _key(git, Config(model=str(model)))
    model.write_bytes(b"GGUF" + b"\1" * 32)
    assert _key(git, Config(model=str(model))) != key


def test_store_round_trip_and_bad_entries_are_misses(repo: Repo) -> None:
    git = _staged(repo)
    store = Store.of(git)
    assert store.directory == Path(git.git("rev-parse", "--absolute-git-dir").strip()) / (
        "codeslm/prepared"
    )
    key = _key(git, Config())
    assert store.get(key) is None  # no directory yet: a miss
    entry = new_entry(key, "feat: add mul", ["a note"], strategy="full", model="m", elapsed_s=2.5)
    path = store.put(entry)
    found = store.get(key)
    assert found is not None and (found.message, found.notes, found.model) == (
        "feat: add mul",
        ["a note"],
        "m",
    )
    assert [p.name for p in store.directory.iterdir()] == [f"{key}.json"]  # no temporary left
    data = json.loads(path.read_text())
    for broken in (
        '{"format": 1, "key": ',  # cut short
        b"\xff\xfe not text",
        json.dumps({**data, "key": "0" * 64}),  # written for another change
        json.dumps({**data, "format": 99}),
        json.dumps({**data, "message": "  "}),
        json.dumps({**data, "notes": "not a list"}),
        json.dumps({**data, "elapsed_s": "soon"}),
        "[]",
    ):
        path.write_bytes(broken if isinstance(broken, bytes) else broken.encode())
        assert store.get(key) is None, broken
    path.unlink()
    path.mkdir()  # not even a file
    assert store.get(key) is None
    path.rmdir()
    assert store.get("../../etc/passwd") is None


def test_a_failed_write_leaves_the_old_entry_whole(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    git = _staged(repo)
    store = Store.of(git)
    key = _key(git, Config())
    store.put(new_entry(key, "feat: first", [], strategy="full", model="m", elapsed_s=1))

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        store.put(new_entry(key, "feat: second", [], strategy="full", model="m", elapsed_s=1))
    monkeypatch.undo()
    found = store.get(key)
    assert found is not None and found.message == "feat: first"
    assert [p.name for p in store.directory.iterdir()] == [f"{key}.json"]


def test_only_the_newest_entries_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "prepared")
    keys = [f"{i:064x}" for i in range(KEEP + 4)]
    for i, key in enumerate(keys):
        store.put(new_entry(key, f"feat: change {i}", [], strategy="full", model="m", elapsed_s=1))
        os.utime(store.path(key), ns=(i * 10**9, i * 10**9))  # a clear order of age
    store.prune()
    kept = sorted(p.stem for p in store.directory.iterdir())
    assert kept == sorted(keys[-KEEP:])
    assert store.get(keys[0]) is None and store.get(keys[-1]) is not None


async def test_produce_writes_once_and_the_plan_sees_nothing_staged(repo: Repo) -> None:
    git = _staged(repo)
    config = Config()
    plan = ahead.plan(git, config)
    assert plan is not None
    backend = FakeBackend("feat: add mul")
    entry, fresh = await ahead.produce(plan, config, backend)
    assert fresh and entry.message == "feat: add mul" and entry.model == "fake"
    again, fresh = await ahead.produce(plan, config, backend)
    assert not fresh and again.message == entry.message and len(backend.requests) == 1
    # The request was the hook's (a deadline: the cut-to-fit prompt, the short file list).
    assert "M calc.py (+4 -0)" in backend.requests[0].messages[-1].content
    repo.git("commit", "-q", "-m", "feat: add mul")
    assert ahead.plan(git, config) is None


def _cli(repo: Repo, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(repo.env, CODESLM_BACKEND="fake", **env)
    return subprocess.run(
        [*codeslm_command(), *args],
        cwd=repo.path,
        env=full,
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_commit_msg_prepare_then_the_hook_and_commit_msg_use_it(repo: Repo, tmp_path: Path) -> None:
    _staged(repo)
    installer.install(GitRepo(repo.path))
    prepared = _cli(repo, "commit-msg", "--prepare", CODESLM_FAKE_REPLY="feat: add mul")
    assert prepared.returncode == 0, prepared.stderr
    assert prepared.stdout == "feat: add mul\n" and "written now" in prepared.stderr
    again = _cli(repo, "commit-msg", "--prepare", "--json", CODESLM_FAKE_REPLY="other")
    assert json.loads(again.stdout)["message"] == "feat: add mul"  # already there: no model
    # The plain command would send the very same prompt (the whole diff, two files at most):
    # it prints the stored message.
    plain = _cli(repo, "commit-msg", "--json", CODESLM_FAKE_REPLY="fix: not stored")
    assert json.loads(plain.stdout)["prepared"] is True
    assert json.loads(plain.stdout)["message"] == "feat: add mul"
    # ...but not for another strategy, nor a range.
    other = _cli(
        repo, "commit-msg", "--json", "--strategy", "full", CODESLM_FAKE_REPLY="fix: not stored"
    )
    assert json.loads(other.stdout)["message"] == "fix: not stored"
    refused = _cli(repo, "commit-msg", "--prepare", "--range", "HEAD")
    assert refused.returncode == 2 and refused.stderr.startswith("error: --prepare writes")
    editor, copy = editor_that_copies(tmp_path)
    repo.git(
        "commit",
        "-q",
        env=dict(
            repo.env,
            GIT_EDITOR=editor,
            CODESLM_BACKEND="fake",
            CODESLM_FAKE_REPLY="fix: written by the hook",
        ),
    )
    assert repo.last_message() == "feat: add mul"
    assert "# codeslm: written by fake ahead of the commit" in copy.read_text()
    nothing = _cli(repo, "commit-msg", "--prepare")
    assert nothing.returncode == 2 and "no changes to describe" in nothing.stderr


def test_commit_msg_does_not_reuse_when_the_hook_saw_a_shorter_list(repo: Repo) -> None:
    git = _staged(repo)
    for i in range(_HOOK_STAT_LINES + 1):
        repo.write(f"pkg/m{i}.py", f"X = {i}\n")
    repo.git("add", "-A")
    config = Config()
    plan = ahead.plan(git, config)
    assert plan is not None and len(plan.changes.all_files()) > _HOOK_STAT_LINES
    plan.store.put(
        new_entry(plan.key, "feat: stored", [], strategy="full", model="fake", elapsed_s=1)
    )
    out = _cli(repo, "commit-msg", "--json", CODESLM_FAKE_REPLY="feat: written now")
    assert json.loads(out.stdout)["message"] == "feat: written now"
    assert _HOOK_STAT_LINES == _STAT_LINES_HOOK  # the CLI's copy of the hook's list length
