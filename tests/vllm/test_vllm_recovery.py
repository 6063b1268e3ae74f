"""A real language server on a real vLLM server that dies and comes back: the editor's
completion is empty (not a hang) while vLLM is gone, and served again once it is back on the
same port, without restarting the language server."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from codeslm.runtime import serving

from .conftest import running_server, vllm_python

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(900)]


def test_completions_come_back_with_the_server(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from lsp_harness import inline_params, lsp_session, server_env

    vllm_python()
    port = serving.free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}"
    first = running_server(tmp_path_factory.mktemp("vllm-a"), port=port)
    server = first.__enter__()
    try:

        async def run() -> None:
            root = tmp_path / "proj"
            root.mkdir()
            env = server_env(
                tmp_path / "lsp-home",
                CODESLM_BACKEND="vllm",
                CODESLM_URL=url,
                CODESLM_CONTEXT_ENABLED="false",
            )
            async with lsp_session(root, env) as ed:
                uri = ed.open("calc.py", "def add(a, b):\n    return \n")
                await ed.wait_status("ready", "slow", "error", timeout=120)
                served = await ed.client.text_document_inline_completion_async(
                    inline_params(uri, 1, 11, invoked=True)
                )
                assert served is not None and served.items
                # vLLM dies; the next request is answered, empty, within seconds.
                os.killpg(server.pid, signal.SIGKILL)
                server.process.wait(timeout=60)
                started = time.monotonic()
                gone = await asyncio.wait_for(
                    ed.client.text_document_inline_completion_async(
                        inline_params(uri, 1, 11, invoked=True)
                    ),
                    timeout=60,
                )
                assert gone is None or not gone.items
                assert time.monotonic() - started < 30
                # vLLM comes back on the same port: completions are served again.
                with running_server(tmp_path_factory.mktemp("vllm-b"), port=port):
                    deadline = time.monotonic() + 60
                    while True:
                        back = await ed.client.text_document_inline_completion_async(
                            inline_params(uri, 1, 11, invoked=True)
                        )
                        if back is not None and back.items:
                            break
                        assert time.monotonic() < deadline, ed.statuses[-3:]
                        await asyncio.sleep(1)
                    assert "a + b" in str(back.items[0].insert_text)

        asyncio.run(run())
    finally:
        first.__exit__(None, None, None)
