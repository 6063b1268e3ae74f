"""A real ``codeslm lsp`` on the shared daemon and the real model: ``codeslm/warm`` fills the
cache (the quick window, then the full one) before the request, and the first request at a new
place warms the full prompt after answering from the quick window."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from codeslm.backends.daemon import runtime
from tests.lsp.lsp_harness import Editor, inline_params, lsp_session, server_env

pytestmark = pytest.mark.model

BODY = "".join(f"def helper_{i}(values):\n    return sorted(values)[{i}]\n\n\n" for i in range(30))
SOURCE = BODY + "def mean(values):\n    total = sum(values)\n    return \n"
LINE = SOURCE.count("\n") - 1  # the `return ` line, 0-based


async def _stats_until(editor: Editor, key: str, at_least: int, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        stats = await editor.stats()
        if stats.get(key, 0) >= at_least or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.5)


async def test_warm_notification_and_quick_first_window(tmp_path: Path, model_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    env = server_env(tmp_path / "home", CODESLM_MODEL=str(model_path),
                     CODESLM_DAEMON_ENABLED="1", CODESLM_LSP_QUICK_FIRST="1")
    try:
        async with lsp_session(root, env) as editor:
            await editor.wait_status("ready", "slow", "error", timeout=240)
            uri = editor.open("stats.py", SOURCE)
            editor.client.protocol.notify("codeslm/warm", {
                "textDocument": {"uri": uri}, "position": {"line": LINE, "character": 11}})
            # The quick window first (what a request there would send at once), then the full.
            stats = await _stats_until(editor, "warmups", 2)
            assert stats["warmups"] == 2, stats
            result = await editor.client.text_document_inline_completion_async(
                inline_params(uri, LINE, 11, invoked=True))
            assert result is not None and result.items
            stats = await editor.stats()
            # The request found its prompt evaluated: nearly all of it came from the cache.
            assert stats["cached_prompt_tokens"] >= 0.9 * stats["prompt_tokens"] > 0, stats
            # A new place (another file): answered from the quick window, then warmed in full.
            other = editor.open("other.py", "import os\n\n\ndef home():\n    return os.\n")
            result = await editor.client.text_document_inline_completion_async(
                inline_params(other, 4, 14, invoked=True))
            assert result is not None
            stats = await _stats_until(editor, "warmups", 3)
            assert stats["warmups"] == 3, stats
            # Malformed warm notifications are ignored, and the server still answers.
            for bad in ({}, {"textDocument": {"uri": uri}}, {"textDocument": {"uri": uri},
                        "position": {"line": -1, "character": 0}},
                        {"textDocument": {"uri": "file:///nowhere.py"},
                         "position": {"line": 0, "character": 0}}):
                editor.client.protocol.notify("codeslm/warm", bad)
            assert "warmups" in await editor.stats()
        found = runtime.running()
        assert len(found) == 1
        status = runtime.call(found[0][0].socket, {"op": "status"})["status"]
        assert status["warm_requests"] >= 2
    finally:
        subprocess.run([sys.executable, "-m", "codeslm", "serve", "stop"], env=env,
                       capture_output=True, timeout=60)


async def test_a_fast_model_answers_typing_from_its_own_daemon(
        tmp_path: Path, model_path: Path) -> None:
    """``completion.fast_model`` through a real ``codeslm lsp`` and the real daemons: the fast
    model (here the same file under another path, so it gets a daemon of its own) serves the
    suggestions while typing, ``model`` the explicit requests."""
    root = tmp_path / "proj"
    root.mkdir()
    fast = tmp_path / "fast-copy.gguf"  # a link would resolve to the same file and daemon
    try:
        os.link(model_path, fast)
    except OSError:  # another file system
        shutil.copyfile(model_path, fast)
    env = server_env(tmp_path / "home", CODESLM_MODEL=str(model_path),
                     CODESLM_COMPLETION__FAST_MODEL=str(fast), CODESLM_DAEMON_ENABLED="1",
                     CODESLM_LSP__DEBOUNCE_MS="0")
    try:
        async with lsp_session(root, env) as editor:
            await editor.wait_status("ready", "slow", "error", timeout=240)
            daemons = runtime.running()
            assert len(daemons) == 2, daemons  # both loaded at start-up
            uri = editor.open("stats.py", SOURCE)
            typing = await editor.client.text_document_inline_completion_async(
                inline_params(uri, LINE, 11))
            assert typing is not None
            served = {str(f.socket): runtime.call(f.socket, {"op": "status"})["status"]
                      for f, _ in daemons}
            busy = [s for s in served.values() if s["requests"]]
            assert len(busy) == 1 and busy[0]["path"] == str(fast), served
            asked = await editor.client.text_document_inline_completion_async(
                inline_params(uri, LINE, 11, invoked=True))
            assert asked is not None
            after = [runtime.call(f.socket, {"op": "status"})["status"]["requests"]
                     for f, _ in daemons]
            assert all(after), after  # the explicit request went to the other daemon
    finally:
        subprocess.run([sys.executable, "-m", "codeslm", "serve", "stop"], env=env,
                       capture_output=True, timeout=60)
