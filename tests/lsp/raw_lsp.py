"""A raw-bytes client for the real ``codeslm lsp`` process, for framing and fuzz tests.

pytest-lsp's client frames every message correctly; these tests need to write any bytes at all
and to check what comes back. :class:`RawServer` starts ``python -m codeslm lsp`` (fake backend)
over pipes, writes raw bytes, and reads the server's output on a thread with a strict framer:
anything on stdout that is not a well-framed JSON message fails the test. It records every
response by id (to check that each request is answered exactly once), answers the server's own
requests with ``null`` as a minimal editor does, and samples the server's peak RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

FAKE_REPLY = "return 1\n"
PROBE_TEXT = "def f():\n    \n"  # the fake backend completes line 1 as "    return 1"
PROBE_ANSWER = "    return 1"


def frame(body: bytes, *, header: str = "Content-Length") -> bytes:
    return f"{header}: {len(body)}\r\n\r\n".encode() + body


def message(obj: Any) -> bytes:
    return frame(json.dumps(obj).encode())


def request(msg_id: int | str, method: str, params: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: Any = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def inline(
    msg_id: int | str, uri: str, line: int, character: int, trigger: int = 1
) -> dict[str, Any]:
    return request(
        msg_id,
        "textDocument/inlineCompletion",
        {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": trigger},
        },
    )


def did_open(uri: str, text: str, version: int = 1) -> dict[str, Any]:
    return notification(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": version, "text": text}},
    )


class RawServer:
    """The real server process over pipes (see the module docstring)."""

    def __init__(
        self, tmp: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.root = tmp / "ws"
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "server.log"
        full_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("CODESLM_")
            or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")
        }
        full_env.update(
            CODESLM_HOME=str(tmp / "home"),
            CODESLM_BACKEND="fake",
            CODESLM_FAKE_REPLY=FAKE_REPLY,
            NO_COLOR="1",
        )
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeslm", "lsp", "--log-file", str(self.log_path), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=full_env,
        )
        self.responses: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        self.notifications: list[dict[str, Any]] = []
        self.garbage: list[bytes] = []  # anything on stdout that is not a framed message
        self.peak_rss_kb = 0
        self._lock = threading.Condition()
        self._write_lock = threading.Lock()
        self._next_id = 1_000_000
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()

    # -- writing -----------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send_json(self, obj: Any) -> None:
        self.send(message(obj))

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- reading -----------------------------------------------------------------------------

    def _read_loop(self) -> None:
        out = self.proc.stdout
        assert out is not None
        buf = b""
        while True:
            chunk = os.read(out.fileno(), 65536)
            if not chunk:
                with self._lock:
                    self._lock.notify_all()
                return
            buf += chunk
            while True:
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if not sep:
                    break
                lines = head.split(b"\r\n")
                if not lines[0].startswith(b"Content-Length: "):
                    self.garbage.append(buf)
                    buf = b""
                    break
                length = int(lines[0].split(b": ")[1])
                if len(rest) < length:
                    break
                body, buf = rest[:length], rest[length:]
                try:
                    self._dispatch(json.loads(body))
                except ValueError:
                    self.garbage.append(body)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:  # a request of the server's: answer like an editor
            self.send_json({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            return
        with self._lock:
            if "method" in msg:
                self.notifications.append(msg)
            else:
                self.responses[msg.get("id")].append(msg)
            self._lock.notify_all()

    def wait_for(self, ids: set[Any], timeout: float = 60.0) -> set[Any]:
        """Wait until every id in ``ids`` has a response; the ids still unanswered."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                missing = {i for i in ids if not self.responses.get(i)}
                left = deadline - time.monotonic()
                if not missing or left <= 0 or self.proc.poll() is not None:
                    return missing
                self._lock.wait(min(left, 0.5))

    def response(self, msg_id: Any, timeout: float = 30.0) -> dict[str, Any]:
        missing = self.wait_for({msg_id}, timeout)
        assert not missing, f"no answer to request {msg_id!r}{self.state()}"
        return self.responses[msg_id][0]

    def error_codes(self, msg_id: Any) -> list[int]:
        return [r["error"]["code"] for r in self.responses.get(msg_id, []) if "error" in r]

    def state(self) -> str:
        alive = "alive" if self.proc.poll() is None else f"exited {self.proc.returncode}"
        tail = self.log()[-1500:]
        return f" (server {alive}; log tail:\n{tail})"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- session -----------------------------------------------------------------------------

    def initialize(self) -> dict[str, Any]:
        self.send_json(
            request(
                1,
                "initialize",
                {"processId": None, "rootUri": self.root.as_uri(), "capabilities": {}},
            )
        )
        result = self.response(1)
        self.send_json(notification("initialized", {}))
        return result

    def probe(self, uri: str, timeout: float = 30.0) -> str:
        """Ask for the completion of :data:`PROBE_TEXT` at line 1 (opened at ``uri``)."""
        msg_id = self.new_id()
        self.send_json(inline(msg_id, uri, 1, 4))
        answer = self.response(msg_id, timeout)
        assert "result" in answer, f"probe failed: {answer}"
        return str(answer["result"]["items"][0]["insertText"])

    def _sample_rss(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while self.proc.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):  # the kernel's own peak resident size
                        self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
            except (OSError, ValueError):
                return
            time.sleep(0.2)

    def close(self) -> int | None:
        """Shut down politely when it still answers; kill otherwise. The exit code."""
        if self.proc.poll() is None:
            try:
                msg_id = self.new_id()
                self.send_json(request(msg_id, "shutdown"))
                self.wait_for({msg_id}, 10)
                self.send_json(notification("exit"))
                return self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
        return self.proc.wait()
