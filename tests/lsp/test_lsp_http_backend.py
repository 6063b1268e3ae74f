"""``codeslm lsp --backend openai-compatible`` against a model server that dies mid-stream.

A small OpenAI-compatible HTTP server (a thread in this process) streams two tokens of its
first completion and then drops the connection, as a crashing vLLM or llama-server would.
The language server must answer that request with nothing, report the error in its status,
stay up, and serve the next request once the model server answers properly again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lsp_harness import inline_params, lsp_session, server_env


class _ModelServer(BaseHTTPRequestHandler):
    completions = 0

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        pass

    def _json(self, data: Any) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/v1/models"):
            self._json({"object": "list", "data": [
                {"id": "fake-coder", "object": "model", "owned_by": "vllm",
                 "max_model_len": 4096}]})
        elif self.path.startswith("/health"):
            self._json({})
        else:
            self.send_error(404)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        if not self.path.startswith("/v1/completions"):
            self.send_error(404)
            return
        type(self).completions += 1
        dying = type(self).completions == 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for text in ("return", " a + b"):
            event = {"id": "c", "object": "text_completion", "model": "fake-coder",
                     "choices": [{"index": 0, "text": text, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        if dying:
            self.close_connection = True
            self.connection.shutdown(2)  # the server process "crashed" mid-generation
            return
        end = {"id": "c", "object": "text_completion", "model": "fake-coder",
               "choices": [{"index": 0, "text": "\n", "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


@pytest.fixture
def model_server() -> Iterator[str]:
    _ModelServer.completions = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ModelServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


async def test_model_server_dying_mid_stream(tmp_path: Path, model_server: str) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    env = server_env(tmp_path / "home", CODESLM_BACKEND="openai-compatible",
                     CODESLM_URL=model_server, CODESLM_COMPLETION_FIM_FORMAT="qwen2.5-coder",
                     CODESLM_CONTEXT_ENABLED="false")
    async with lsp_session(root, env) as ed:
        uri = ed.open("add.py", "def add(a, b):\n    \n")
        await ed.wait_status("ready", "slow", "error", timeout=30)
        died = await ed.client.text_document_inline_completion_async(
            inline_params(uri, 1, 4, invoked=True))
        assert died is not None and not died.items
        status = await ed.wait_status("error", timeout=10)
        assert "ended the stream" in status["message"] or "connection" in status["message"]
        served = await ed.client.text_document_inline_completion_async(
            inline_params(uri, 1, 4, invoked=True))
        assert served is not None and served.items
        assert served.items[0].insert_text == "    return a + b"
        stats = await ed.stats()
        assert stats["errors"] == 1 and stats["served"] == 1
    assert _ModelServer.completions >= 2
