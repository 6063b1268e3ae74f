"""A real ``codeslm lsp`` prepares the commit message while the user stages; the real ``git
commit`` with the installed hook then shows it without calling a model.

The server and the hook run different scripted backends (different replies), so the message
that ends up in the commit says who wrote it: the hook's own reply would mean it called its
model. The real model runs the same path in test_git_prepared_model.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from codeslm.lsp.prepared_commit import BackgroundBackend, Preempted

from codeslm.backends.fake import FakeBackend
from codeslm.config import Config
from codeslm.git import ahead
from codeslm.git import install as installer
from codeslm.git.prepared import Store
from codeslm.git.repo import GitRepo
from codeslm.types import Chunk, GenerationRequest
from tests.lsp.lsp_harness import Editor, inline_params, lsp_session, plain, server_env

from .conftest import Repo, editor_that_copies

SERVER_SAYS = "feat(calc): add multiplication"
HOOK_SAYS = "fix: written by the hook itself"
CALC = "def add(a, b):\n    return a + b\n"
CALC_MUL = CALC + "\n\ndef mul(a, b):\n    return a * b\n"


def _server_env(repo: Repo, tmp_path: Path, delay_s: float = 0.0) -> dict[str, str]:
    script = tmp_path / "server-script.json"
    rules = [{"contains": "Diff:", "reply": SERVER_SAYS + " and division to calc"}]
    script.write_text(json.dumps({"rules": rules, "default": "pass\n", "delay_s": delay_s}))
    env = server_env(
        tmp_path / "home",
        CODESLM_BACKEND="fake",
        CODESLM_FAKE_SCRIPT=str(script),
        CODESLM_GIT_PREPARE_QUIET_S="0.5",
    )
    env.update({k: v for k, v in repo.env.items() if k.startswith("GIT_")})
    return env


def _hook_env(repo: Repo, tmp_path: Path) -> tuple[dict[str, str], Path]:
    installer.install(GitRepo(repo.path))
    editor, copy = editor_that_copies(tmp_path)
    env = dict(
        repo.env,
        GIT_EDITOR=editor,
        CODESLM_BACKEND="fake",
        CODESLM_FAKE_REPLY=HOOK_SAYS,
        CODESLM_LOG="info",
    )
    return env, copy


async def _report(editor: Editor) -> dict[str, Any]:
    result = await editor.client.protocol.send_request_async("codeslm/preparedCommit", {})
    return plain(result)


async def _wait_state(editor: Editor, *states: str, timeout: float = 60.0) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            report = await _report(editor)
            for repo in report["repositories"]:
                if repo.get("state") in states:
                    return dict(repo)
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), timeout)


async def test_prepared_by_the_server_then_used_by_the_hook(repo: Repo, tmp_path: Path) -> None:
    hook_env, copy = _hook_env(repo, tmp_path)
    repo.write("calc.py", CALC)
    repo.commit("feat: add the calculator")
    store = Store.of(GitRepo(repo.path))
    async with lsp_session(repo.path, _server_env(repo, tmp_path)) as editor:
        assert (await _wait_state(editor, "nothing staged"))["root"] == str(repo.path)
        repo.write("calc.py", CALC_MUL)
        repo.git("add", "calc.py")
        done = await _wait_state(editor, "prepared")
        assert done["detail"] == SERVER_SAYS + " and division to calc"
        assert len(list(store.directory.glob("*.json"))) == 1
        proc = repo.git("commit", "-q", env=hook_env)
    assert repo.last_message() == SERVER_SAYS + " and division to calc"
    shown = copy.read_text()
    assert "# codeslm: written by fake ahead of the commit" in shown
    assert "# Please enter the commit message" in shown
    assert "prepared ahead of the commit, no model call" in proc.stderr


async def test_a_stale_message_is_never_used(repo: Repo, tmp_path: Path) -> None:
    hook_env, _ = _hook_env(repo, tmp_path)
    repo.write("calc.py", CALC)
    repo.commit("feat: add the calculator")
    store = Store.of(GitRepo(repo.path))
    async with lsp_session(repo.path, _server_env(repo, tmp_path)) as editor:
        repo.write("calc.py", CALC_MUL)
        repo.git("add", "calc.py")
        await _wait_state(editor, "prepared")
    # The server is gone: one more function staged, nothing prepares it.
    (stale,) = store.directory.glob("*.json")
    repo.write("calc.py", CALC_MUL + "\n\ndef sub(a, b):\n    return a - b\n")
    repo.git("add", "calc.py")
    repo.git("commit", "-q", env=hook_env)
    assert repo.last_message() == HOOK_SAYS
    assert stale.exists()  # it was there, and not used
    # The same change of calc.py on another base is a miss too.
    repo.git("reset", "-q", "--hard", "HEAD~1")
    repo.write("NOTES.txt", "notes\n")
    repo.commit("docs: add notes")
    repo.write("calc.py", CALC_MUL)
    repo.git("add", "calc.py")
    repo.git("commit", "-q", env=hook_env)
    assert repo.last_message() == HOOK_SAYS


async def test_a_completion_request_stops_the_preparation(repo: Repo, tmp_path: Path) -> None:
    repo.write("calc.py", CALC)
    repo.commit("feat: add the calculator")
    env = _server_env(repo, tmp_path, delay_s=0.3)  # the message takes a few seconds
    async with lsp_session(repo.path, env) as editor:
        uri = editor.open("calc.py", CALC_MUL)
        repo.write("calc.py", CALC_MUL)
        repo.git("add", "calc.py")
        await _wait_state(editor, "writing")
        await editor.client.text_document_inline_completion_async(
            inline_params(uri, 5, 4, invoked=True)
        )
        stopped = await _wait_state(editor, "stopped")
        assert stopped["detail"] == "a completion was requested"
        # Once completions are quiet again, it starts over and finishes.
        await _wait_state(editor, "prepared", timeout=90.0)


async def test_switched_off_it_prepares_nothing(repo: Repo, tmp_path: Path) -> None:
    repo.write("calc.py", CALC)
    repo.commit("feat: add the calculator")
    env = _server_env(repo, tmp_path)
    env["CODESLM_GIT_PREPARE"] = "0"
    async with lsp_session(repo.path, env) as editor:
        repo.write("calc.py", CALC_MUL)
        repo.git("add", "calc.py")
        await asyncio.sleep(2.0)  # four quiet periods
        report = await _report(editor)
    assert report["enabled"] is False and report["repositories"] == []
    assert not Store.of(GitRepo(repo.path)).directory.exists()


async def test_a_request_the_daemon_dropped_never_becomes_a_message(repo: Repo) -> None:
    """The daemon answers a dropped warm request with a ``cancelled`` chunk after whatever
    it had generated: that half message must not be stored."""

    class Dropping(FakeBackend):
        async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
            assert request.warm
            yield Chunk("feat: add mul")
            yield Chunk("", "cancelled")

    repo.write("calc.py", CALC)
    repo.commit("feat: add the calculator")
    repo.write("calc.py", CALC_MUL)
    repo.git("add", "calc.py")
    config = Config()
    plan = ahead.plan(GitRepo(repo.path), config)
    assert plan is not None
    with pytest.raises(Preempted):
        await ahead.produce(plan, config, BackgroundBackend(Dropping()))
    assert plan.store.get(plan.key) is None
    entry, _ = await ahead.produce(plan, config, BackgroundBackend(FakeBackend("feat: add mul")))
    assert plan.store.get(plan.key) == entry
