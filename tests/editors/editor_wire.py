"""A raw JSON-RPC client for ``codeslm lsp``: it sends exactly the JSON an editor sends and
answers the server's requests with exactly what that editor answers (null included), which a
typed client such as pytest-lsp cannot do."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Answer = Callable[[dict[str, Any]], Any]


class RawClient:
    """One ``codeslm lsp`` subprocess; messages are read by a thread into a queue."""

    def __init__(self, env: dict[str, str], answers: dict[str, Answer] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeslm", "lsp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.answers = answers or {}
        self.seen: list[dict[str, Any]] = []  # every message from the server, in order
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = out.read(1)
                if not byte:
                    self._queue.put(None)
                    return
                header += byte
            length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            self._queue.put(json.loads(out.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 60.0) -> dict[str, Any]:
        """Send a request and return its response (answering server requests meanwhile)."""
        self._next_id += 1
        msg_id = self._next_id
        self.send({"id": msg_id, "method": method, "params": params})
        return self.wait(lambda m: "method" not in m and m.get("id") == msg_id, timeout)

    def wait(self, done: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no such message from the server")
            try:
                message = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if message is None:
                raise EOFError("the server closed its output")
            self.seen.append(message)
            if "method" in message and "id" in message:
                answer = self.answers.get(message["method"], lambda _m: None)
                self.send({"id": message["id"], "result": answer(message)})
            if done(message):
                return message

    def initialize(
        self, root: Path, capabilities: dict[str, Any], initialization_options: Any = None
    ) -> dict[str, Any]:
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": capabilities,
                "initializationOptions": initialization_options,
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, path: Path, language_id: str) -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": language_id,
                    "version": 1,
                    "text": path.read_text(),
                }
            },
        )
        return uri

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=20)
            self.notify("exit", None)
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait()
