"""The secrets corpus (issue 18): planted secrets never reach any prompt.

A temporary real git repository gets every kind of secret the issue lists (a ``.env`` with an
AWS key pair, RSA and OpenSSH private key blocks, a URL with a password, a Slack token, a
``client_secret``, a ``.netrc``, a Kubernetes secret manifest, a free-form token in a Markdown
note, a secret in the file being completed, a key body in a ``*.pem.txt`` edited in its middle,
plus a secret in a hunk header). Then every path that builds a prompt runs against a
recording OpenAI-compatible server on loopback: ``commit-msg`` (whole and map-reduce), the
installed prepare-commit-msg hook under a real ``git commit``, ``review``, ``complete`` with
and without repository context, the refactors (docstring, tests, explain, fix, edit) and
``gen`` with stdin. The commands are the real CLI in subprocesses (the refactors run the
library the language server's code actions call); only the server's answers are canned, since
what is checked is what was sent. Every request body, byte for byte, must be free of every
planted secret.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from codeslm.actions import (
    Problem,
    RefactorRequest,
    generate_answer,
    plan_refactor,
)
from codeslm.backends import create_backend
from codeslm.config import Config
from codeslm.types import Document, Position, Range
from tests.conftest import codeslm_command
from tests.git.conftest import editor_that_copies, git_env

# -- the recording server ----------------------------------------------------------------------

MODEL = "Qwen2.5-Coder-0.5B"  # a name codeslm knows, so completions use its FIM format


@dataclass
class Recorder:
    """Every request the server got: (path, raw body)."""

    requests: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prompts(self) -> list[tuple[str, bytes]]:
        """Every request that carried text (completions, and the tokenize calls too)."""
        with self.lock:
            return [(p, b) for p, b in self.requests if b]

    def mark(self) -> int:
        with self.lock:
            return len(self.requests)

    def since(self, mark: int) -> list[tuple[str, bytes]]:
        with self.lock:
            return [(p, b) for p, b in self.requests[mark:] if b]


def _handler(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            with recorder.lock:
                recorder.requests.append((self.path, b""))
            if self.path.rstrip("/") == "/v1/models":
                models = {"object": "list", "data": [{"id": MODEL, "object": "model",
                                                      "owned_by": "recorder",
                                                      "max_model_len": 32768}]}
                self._send(200, json.dumps(models).encode())
            elif self.path == "/health":
                self._send(200, b"{}")
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with recorder.lock:
                recorder.requests.append((self.path, body))
            if self.path == "/tokenize":
                # Qwen's FIM and file tokens are one token each; other text 1 per 3 chars.
                data = json.loads(body)
                text = data.get("prompt") or data.get("content") or ""
                special = text.startswith("<|") and text.endswith("|>") and text.count("<|") == 1
                count = 1 if special else max(1, len(text) // 3)
                self._send(200, json.dumps({"tokens": list(range(count)),
                                            "count": count}).encode())
                return
            if not self.path.endswith("completions"):
                self._send(404, b'{"error": "not found"}')
                return
            request = json.loads(body)
            chat = self.path.endswith("chat/completions")
            text = ("fix: update the deployment settings\n\nNo secrets here." if chat
                    else " 1\n")
            if not request.get("stream"):
                choice = ({"index": 0, "message": {"role": "assistant", "content": text},
                           "finish_reason": "stop"} if chat
                          else {"index": 0, "text": text, "finish_reason": "stop"})
                self._send(200, json.dumps({"id": "r", "object": "x", "model": MODEL,
                                            "choices": [choice]}).encode())
                return
            events = []
            for piece, reason in ((text, None), ("", "stop")):
                choice = ({"index": 0, "delta": {"content": piece}, "finish_reason": reason}
                          if chat else {"index": 0, "text": piece, "finish_reason": reason})
                events.append({"id": "r", "object": "x", "model": MODEL, "choices": [choice]})
            stream = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
            self._send(200, stream.encode(), "text/event-stream")

    return Handler


@pytest.fixture
def recording_server() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", recorder
    finally:
        server.shutdown()
        server.server_close()


# -- the planted secrets -------------------------------------------------------------------------

# Random-looking values made for this test (none is a real credential). Each is searched for
# whole, and also by a 16-character middle piece, in every request body.
AWS_KEY_ID = "AKIAQ7ZK4M2XW9RTB3VN"
AWS_SECRET = "kR8vT2mXq9Lw4Zp7Nc1Ys6Hd3Jb5Gf0Ue2Qa8Wn"
INI_SECRET = "Hq3Ls8Vn1Xc6Zt4Rw9Pk2Jm7Bd5Gy0Fe3Ua8Ko"
DB_PASSWORD = "pW4nQ8zR2sX6vL"
SLACK_TOKEN = "xoxb-730194826053-4819265073912-Tq8Zr2Lm6Vx4Nc9Ks1Pw3Hy7"
CLIENT_SECRET = "GOCSPX-d7Kq2Zm9Xv4Lr8Tn1Wc6Yb3Hs5"
NETRC_PASSWORD = "nEt9rcPa55Wq2Zx7"
K8S_PASSWORD = "k8Sp4ssW0rdZq7Lm"
MD_TOKEN = "Zx8Qp2Lm9Rt4Vw7Yb1Nc6Hd3Jf5Kg0Se2UaT7hW"
LOCAL_TOKEN = "lt_9Kd2Xq7Zm4Rv8Wn3Tc6Yp1Hs5Lb0Gf"


def _key_lines(seed: int, count: int, width: int = 64) -> list[str]:
    """Base64 lines with the look of a key body (bytes from a fixed-seed generator)."""
    import random

    rng = random.Random(seed)
    raw = base64.b64encode(bytes(rng.randrange(256) for _ in range(count * width))).decode()
    return [raw[i:i + width] for i in range(0, count * width, width)]


RSA_BODY = _key_lines(1, 12)
OPENSSH_BODY = _key_lines(2, 6, 70)
PEM_TXT_BODY = _key_lines(3, 24)
K8S_TLS = base64.b64encode(b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIF" +
                           bytes(range(40, 100))).decode()

SECRETS: dict[str, list[str]] = {
    ".env: AWS access key id": [AWS_KEY_ID],
    ".env: AWS secret access key": [AWS_SECRET],
    "RSA private key block": RSA_BODY,
    "OpenSSH private key block": OPENSSH_BODY,
    "URL with a password": [DB_PASSWORD],
    "Slack token": [SLACK_TOKEN],
    "client_secret": [CLIENT_SECRET],
    ".netrc": [NETRC_PASSWORD],
    "Kubernetes secret manifest": [K8S_PASSWORD, K8S_TLS],
    "free-form token in Markdown": [MD_TOKEN],
    "secret in the file being completed": [LOCAL_TOKEN],
    "key body in a *.pem.txt, mid-hunk": PEM_TXT_BODY,
    "secret in a hunk header": [INI_SECRET],
}


def _needles() -> list[tuple[str, str]]:
    out = []
    for kind, values in SECRETS.items():
        for value in values:
            out.append((kind, value))
            if len(value) >= 24:  # a piece of it counts as a leak too
                out.append((kind, value[4:20]))
    return out


def _leaks(requests: list[tuple[str, bytes]]) -> list[str]:
    found = []
    for path, body in requests:
        # JSON escapes nothing in these values but "/", which json.dumps leaves alone and
        # some servers escape: compare on the decoded text too.
        text = body.decode("utf-8", "replace")
        decoded = json.dumps(json.loads(text)) if text.strip() else ""
        for kind, needle in _needles():
            if needle in text or needle in decoded or needle.replace("/", "\\/") in text:
                found.append(f"{kind} ({needle[:12]}...) reached {path}")
    return found


# -- the repository --------------------------------------------------------------------------

APP_BASE = '''"""The app."""

from settings import DATABASE_URL, SLACK_TOKEN


def connect():
    return open_db(DATABASE_URL)
'''

APP_NEW = f'''"""The app."""

from settings import DATABASE_URL, SLACK_TOKEN

LOCAL_TOKEN = "{LOCAL_TOKEN}"


def connect():
    return open_db(DATABASE_URL)


def notify(message):
    headers = {{"Authorization": "Bearer " + LOCAL_TOKEN}}
    return post(SLACK_TOKEN, message, headers=headers)


def total(items):
    return 
'''


def _write(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _git(root: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=root, env=env, text=True, capture_output=True,
                            check=False)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def _make_repo(root: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", "init", "-q", str(root)], env=env, check=True)
    _write(root, "app.py", APP_BASE)
    _write(root, "settings.py", '"""Settings."""\n\nDEBUG = False\n')
    _write(root, "README.md", "# Service\n\nRun it with `make run`.\n")
    # A key in a file whose name matches no secret pattern; the change below edits its middle.
    _write(root, "deploy/server.pem.txt", "\n".join(
        ["-----BEGIN RSA PRIVATE KEY-----", *PEM_TXT_BODY, "-----END RSA PRIVATE KEY-----"])
        + "\n")
    # git copies the nearest heading-like line above a hunk into its @@ header.
    _write(root, "config/app.ini", "\n".join(
        ["[aws]", f"aws_secret_access_key = {INI_SECRET}",
         *[f"  option{i} = {i}" for i in range(4)]]) + "\n")
    _git(root, env, "add", "-A")
    _git(root, env, "commit", "-q", "--no-verify", "-m", "base")

    # The change that plants the rest.
    _write(root, ".env", f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n")
    _write(root, "docs/ops-notes.txt", "Deploy key for the build box:\n" + "\n".join(
        ["-----BEGIN RSA PRIVATE KEY-----", *RSA_BODY, "-----END RSA PRIVATE KEY-----"]) + "\n")
    _write(root, "scripts/bootstrap.sh", "#!/bin/sh\ncat > ~/.ssh/id_ed25519 <<'EOF'\n" +
           "\n".join(["-----BEGIN OPENSSH PRIVATE KEY-----", *OPENSSH_BODY,
                      "-----END OPENSSH PRIVATE KEY-----"]) + "\nEOF\n")
    _write(root, "settings.py", '"""Settings."""\n\nDEBUG = False\n'
           f'DATABASE_URL = "postgres://app:{DB_PASSWORD}@db.internal:5432/app"\n'
           f'SLACK_TOKEN = "{SLACK_TOKEN}"\n')
    _write(root, "oauth.json", json.dumps({"web": {"client_id": "1234.apps.example.com",
                                                   "client_secret": CLIENT_SECRET}}, indent=2))
    _write(root, ".netrc",
           f"machine api.example.com\n  login deploy\n  password {NETRC_PASSWORD}\n")
    _write(root, "k8s/db.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n"
           f"type: Opaque\nstringData:\n  password: {K8S_PASSWORD}\ndata:\n  tls.key: {K8S_TLS}\n")
    _write(root, "docs/STAGING.md", f"# Staging\n\nToken for staging: {MD_TOKEN}\n")
    _write(root, "app.py", APP_NEW)
    lines = (root / "deploy/server.pem.txt").read_text().splitlines()
    lines[12] = _key_lines(4, 1)[0]  # one body line replaced, far from BEGIN
    _write(root, "deploy/server.pem.txt", "\n".join(lines) + "\n")
    _write(root, "config/app.ini", (root / "config/app.ini").read_text() + "  option9 = 9\n")
    _git(root, env, "add", "-A")


@pytest.fixture
def corpus(tmp_path: Path, recording_server: tuple[str, Recorder]
           ) -> tuple[Path, dict[str, str], Recorder, str]:
    url, recorder = recording_server
    env = git_env(tmp_path / "git-home")
    home = tmp_path / "codeslm-home"
    env = {k: v for k, v in env.items() if not k.startswith("CODESLM_")}
    env.update({"CODESLM_HOME": str(home), "CODESLM_RUNTIME_DIR": os.environ.get(
        "CODESLM_RUNTIME_DIR", str(tmp_path / "run")),
        "CODESLM_BACKEND": "openai-compatible", "CODESLM_URL": url,
        "CODESLM_DAEMON_ENABLED": "0", "NO_COLOR": "1", "CODESLM_GIT_TIMEOUT_S": "60"})
    root = tmp_path / "repo"
    _make_repo(root, env)
    return root, env, recorder, url


def _cli(root: Path, env: dict[str, str], *args: str, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*codeslm_command(), *args], cwd=root, env=env, text=True,
                          capture_output=True, input=stdin, timeout=300)


def test_no_planted_secret_reaches_any_prompt(corpus: tuple[Path, dict[str, str], Recorder, str],
                                              tmp_path: Path) -> None:
    root, env, recorder, url = corpus
    # The change really holds every secret (as git would send it without the scrubber).
    staged = _git(root, env, "diff", "--cached")
    for kind, values in SECRETS.items():
        if kind in {".env: AWS access key id", ".env: AWS secret access key", ".netrc"}:
            continue  # withheld by name, not even diffed by codeslm; checked below anyway
        if kind == "secret in the file being completed":
            continue
        assert any(v in staged for v in values), kind

    paths: dict[str, list[tuple[str, bytes]]] = {}

    def run(name: str, *args: str, stdin: str | None = None, ok: bool = True) -> None:
        mark = recorder.mark()
        result = _cli(root, env, *args, stdin=stdin)
        if ok:
            assert result.returncode == 0, (name, result.stderr)
        paths[name] = recorder.since(mark)

    run("commit-msg", "commit-msg")
    run("commit-msg map-reduce", "commit-msg", "--strategy", "map-reduce")
    run("review", "review", "--staged", ok=False)  # exit 1 when it finds the secrets
    run("complete with repository context", "complete", "app.py:18:12")
    run("complete without context", "complete", "--no-context", "app.py:18:12")
    run("gen with stdin", "gen", "-x", "add a function that posts to slack",
        stdin=(root / "settings.py").read_text() + (root / "docs/STAGING.md").read_text()
        + (root / "docs/ops-notes.txt").read_text())

    # The refactors, as the language server's code actions run them.
    mark = recorder.mark()
    config = Config()
    config.backend, config.url = "openai-compatible", [url]
    document = Document(APP_NEW, str(root / "app.py"), "python")

    async def refactors() -> None:
        backend = create_backend(config)
        try:
            for kind, rng, extra in [
                ("docstring", Range(Position(11, 6), Position(11, 6)), {}),
                ("tests", Range(Position(11, 6), Position(11, 6)), {}),
                ("explain", Range(Position(0, 0), Position(14, 0)), {}),
                ("edit", Range(Position(0, 0), Position(14, 0)),
                 {"instruction": "add type hints"}),
                ("fix", Range(Position(4, 0), Position(4, 0)),
                 {"problem": Problem(f"hard-coded token {LOCAL_TOKEN}",
                                     Range(Position(4, 0), Position(4, 10)))}),
            ]:
                plan = plan_refactor(RefactorRequest(kind, document, rng, root=str(root),
                                                     **extra),  # type: ignore[arg-type]
                                    read_text=lambda p: None)
                await generate_answer(backend, plan)
        finally:
            await backend.aclose()

    asyncio.run(refactors())
    paths["refactors"] = recorder.since(mark)

    # The installed hook, under a real `git commit` that opens an editor.
    subprocess.run([*codeslm_command(), "hook", "install"], cwd=root, env=env, check=True,
                   capture_output=True)
    editor, copy = editor_that_copies(tmp_path)
    mark = recorder.mark()
    _git(root, dict(env, GIT_EDITOR=editor), "commit", "-q")
    paths["prepare-commit-msg hook"] = recorder.since(mark)
    assert "fix: update the deployment settings" in copy.read_text()

    for name, requests in paths.items():
        assert requests, f"{name} sent no prompt"
    with_context = b"".join(body for _, body in paths["complete with repository context"])
    assert b"settings.py" in with_context  # the context really came from the repository
    leaks = [f"{name}: {leak}" for name, requests in paths.items() for leak in _leaks(requests)]
    assert not leaks, "\n".join(leaks)
    # Belt and braces: nothing anywhere in the server's log either.
    assert not _leaks(recorder.prompts())
    _report(paths)


def _report(paths: dict[str, list[tuple[str, bytes]]]) -> None:
    """One line for the log: what was checked (for benchmarks/RESULTS.md)."""
    planted = sum(len(v) for v in SECRETS.values())
    prompts = sum(len(v) for v in paths.values())
    print(f"secrets corpus: {len(SECRETS)} kinds, {planted} planted values, "
          f"{len(paths)} prompt paths, {prompts} prompts, 0 reaching a prompt")
