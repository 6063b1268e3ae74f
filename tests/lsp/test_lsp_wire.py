"""The wire: malformed JSON-RPC is answered per the spec, stdout carries only framed messages,
``--tcp`` and ``--log-file`` work. A raw client writes bytes and reads every byte back."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest


def _frame(body: bytes) -> bytes:
    return b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def _message(obj: dict[str, Any]) -> bytes:
    return _frame(json.dumps(obj).encode())


class RawReader:
    """Reads framed messages from a byte stream; anything else on it fails the test."""

    def __init__(self, read: Any) -> None:
        self._read = read
        self._buffer = b""

    def _fill(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            chunk = self._read()
            if chunk:
                self._buffer += chunk
                return
            if chunk == b"":
                raise EOFError("the server closed its output")
        raise TimeoutError("no message from the server")

    def message(self, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._buffer:
            self._fill(deadline)
        header, _, rest = self._buffer.partition(b"\r\n\r\n")
        lines = header.decode("ascii").split("\r\n")
        assert lines[0].startswith("Content-Length: "), f"not a header: {header!r}"
        length = int(lines[0].split(": ")[1])
        while len(rest) < length:
            self._buffer = header + b"\r\n\r\n" + rest
            self._fill(deadline)
            header, _, rest = self._buffer.partition(b"\r\n\r\n")
        body, self._buffer = rest[:length], rest[length:]
        return json.loads(body)

    def response(self, msg_id: Any, timeout: float = 20.0) -> dict[str, Any]:
        """The response with ``msg_id``, skipping notifications and server requests."""
        while True:
            msg = self.message(timeout)
            if "method" not in msg and msg.get("id") == msg_id:
                return msg


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"processId": None, "rootUri": None, "capabilities": {}}}


@pytest.fixture
def server(tmp_path: Path) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update(CODESLM_HOME=str(tmp_path / "home"), CODESLM_BACKEND="fake",
               CODESLM_FAKE_REPLY="return 1\n")
    log = tmp_path / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeslm", "lsp", "--log-file", str(log)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)

    def read() -> bytes | None:
        try:
            data = os.read(proc.stdout.fileno(), 65536)  # type: ignore[union-attr]
        except BlockingIOError:
            time.sleep(0.01)
            return None
        return data

    proc.reader = RawReader(read)  # type: ignore[attr-defined]
    proc.log = log  # type: ignore[attr-defined]
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _send(proc: Any, data: bytes) -> None:
    proc.stdin.write(data)
    proc.stdin.flush()


def test_malformed_messages_are_answered_and_the_server_keeps_going(server: Any) -> None:
    _send(server, _message({"jsonrpc": "2.0", "id": 0, "method": "textDocument/completion",
                            "params": {}}))
    assert server.reader.response(0)["error"]["code"] == -32002  # not initialized yet
    _send(server, _message(INIT))
    init = server.reader.response(1)
    assert "inlineCompletionProvider" in init["result"]["capabilities"]
    _send(server, _message({"jsonrpc": "2.0", "method": "initialized", "params": {}}))

    _send(server, _frame(b"{this is not json"))
    error = server.reader.response(None)
    assert error["error"]["code"] == -32700

    _send(server, _frame(b"[1, 2, 3]"))
    assert server.reader.response(None)["error"]["code"] == -32600

    _send(server, _message({"id": 7, "method": "textDocument/completion"}))  # no "jsonrpc"
    assert server.reader.response(7)["error"]["code"] == -32600

    _send(server, _message({"jsonrpc": "2.0", "id": 8, "method": "textDocument/inlineCompletion",
                            "params": {"textDocument": "not an object"}}))
    invalid = server.reader.response(8)
    assert invalid["error"]["code"] == -32602

    _send(server, _message({"jsonrpc": "2.0", "id": 9, "method": "no/such/method"}))
    assert server.reader.response(9)["error"]["code"] == -32601

    _send(server, _frame("{\"jsonrpc\": \"2.0\", \"id\": 10, \"m\xe9".encode("latin-1")))
    assert server.reader.response(None)["error"]["code"] == -32700

    # A malformed notification is dropped (notifications get no answer), nothing else changes.
    _send(server, _message({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                            "params": {"textDocument": 5}}))
    uri = "file:///tmp/x.py"
    _send(server, _message({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {
        "textDocument": {"uri": uri, "languageId": "python", "version": 1,
                         "text": "def f():\n    \n"}}}))
    _send(server, _message({"jsonrpc": "2.0", "id": 11, "method": "textDocument/inlineCompletion",
                            "params": {"textDocument": {"uri": uri},
                                       "position": {"line": 1, "character": 4},
                                       "context": {"triggerKind": 1}}}))
    ok = server.reader.response(11)
    assert ok["result"]["items"][0]["insertText"] == "    return 1"

    _send(server, _message({"jsonrpc": "2.0", "id": 12, "method": "shutdown"}))
    assert server.reader.response(12)["result"] is None
    _send(server, _message({"jsonrpc": "2.0", "id": 13, "method": "codeslm/stats"}))
    assert server.reader.response(13)["error"]["code"] == -32600  # shutting down
    _send(server, _message({"jsonrpc": "2.0", "method": "exit"}))
    assert server.wait(timeout=20) == 0
    assert "codeslm lsp starting" in server.log.read_text()


def test_tcp_transport(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update(CODESLM_HOME=str(tmp_path / "home"), CODESLM_BACKEND="fake")
    proc = subprocess.Popen([sys.executable, "-m", "codeslm", "lsp", "--tcp", f"127.0.0.1:{port}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "the TCP server did not start"
                time.sleep(0.1)
        with conn:
            conn.settimeout(0.2)

            def read() -> bytes | None:
                try:
                    return conn.recv(65536)
                except TimeoutError:
                    return None

            reader = RawReader(read)
            conn.sendall(_message(INIT))
            assert "capabilities" in reader.response(1)["result"]
    finally:
        proc.kill()
        proc.wait()


def test_bad_tcp_spec_is_a_one_line_error() -> None:
    result = subprocess.run([sys.executable, "-m", "codeslm", "lsp", "--tcp", "nowhere"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[0] == "error: --tcp 'nowhere' is not HOST:PORT"
