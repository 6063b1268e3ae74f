"""Restarting ``codeslm serve`` on the same port right after its model server died under a
connected client (issue 18): the old connections linger in TIME_WAIT/FIN_WAIT for a minute,
and the port check must not mistake them for a server."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from codeslm.errors import ConfigError
from codeslm.runtime import serving

from .servers import server_env, start_served


def _streaming_client(url: str) -> socket.socket:
    """A raw client in the middle of a streamed completion (a few bytes read, then idle)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    client = socket.create_connection((host, int(port)), timeout=120)
    body = json.dumps({"prompt": "# A long tutorial about Python lists\n", "max_tokens": 400,
                       "stream": True}).encode()
    client.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                   b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert client.recv(64).startswith(b"HTTP/1.1 200")
    return client


@pytest.mark.model
def test_serve_restarts_at_once_on_the_port_of_a_killed_server(
        tmp_path: Path, model_path: Path) -> None:
    env = server_env(tmp_path / "home", model_path, CODESLM_DAEMON_ENABLED="0")
    port = serving.free_port("127.0.0.1")
    first = start_served(env, "--port", str(port), "--no-self-test")
    client = _streaming_client(first.url)
    try:
        first.crash()  # SIGKILL the model server while the client is connected
        assert first.proc.wait(timeout=60) != 0  # codeslm serve reports the death and exits
        # The dead server's side of the connection now lingers; a plain bind is refused...
        with socket.socket() as plain, pytest.raises(OSError):
            plain.bind(("127.0.0.1", port))
        # ...but the restart must not wait for it to expire.
        started = time.monotonic()
        second = start_served(env, "--port", str(port), "--no-self-test")
        try:
            assert second.url == first.url
            assert time.monotonic() - started < 120  # the model load, not a 60 s TIME_WAIT
            again = _streaming_client(second.url)
            again.close()
        finally:
            second.stop()
    finally:
        client.close()
        first.stop()


def test_a_port_with_a_live_server_is_still_refused() -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            serving.check_port("127.0.0.1", port)
