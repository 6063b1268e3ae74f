"""The per-user model daemon with the real model: shared by processes, started exactly once,
restarted after a crash, stale files cleaned, bad input answered, idle exit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeslm.backends.daemon import protocol, runtime
from codeslm.backends.daemon.client import DaemonBackend
from codeslm.config import Config, measured_speed
from codeslm.errors import BackendUnavailable, ConfigError
from codeslm.types import GenerationRequest
from tests.conftest import codeslm_command

pytestmark = pytest.mark.model

SOURCE = "import os\n\n\ndef read_lines(path):\n    with open(path) as handle:\n        return \n"


@pytest.fixture
def daemon_env(cli_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """CLI environment with the daemon on; every daemon is stopped afterwards."""
    env = dict(cli_env, CODESLM_DAEMON_ENABLED="1", CODESLM_DAEMON_IDLE_MINUTES="5")
    yield env
    subprocess.run([*codeslm_command(), "serve", "stop"], env=env, capture_output=True,
                   timeout=60)


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*codeslm_command(), *args], env=env, capture_output=True, text=True,
                          timeout=300, check=check)


def _daemons() -> list[tuple[runtime.DaemonFiles, dict[str, object]]]:
    return runtime.running()


def _status(files: runtime.DaemonFiles) -> dict[str, object]:
    return runtime.call(files.socket, {"op": "status"})["status"]


def test_commands_share_one_daemon(daemon_env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "app.py"
    src.write_text(SOURCE)
    first = json.loads(_cli(daemon_env, "complete", f"{src}:6:16", "--json").stdout)
    second = json.loads(_cli(daemon_env, "complete", f"{src}:6:16", "--json").stdout)
    assert first["text"].strip() and second["text"] == first["text"]
    found = _daemons()
    assert len(found) == 1
    status = _status(found[0][0])
    assert status["requests"] == 2
    assert status["reused_prompt_tokens"] > 0  # the second prompt came from the cache
    shown = _cli(daemon_env, "serve", "status").stdout
    assert f"pid {status['pid']}" in shown and "qwen2.5-coder-0.5b" in shown


def test_racing_starts_start_exactly_one(daemon_env: dict[str, str]) -> None:
    procs = [subprocess.Popen([*codeslm_command(), "serve", "start"], env=daemon_env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    pids = {line.split("pid ")[1].split(",")[0] for out, _ in outs for line in out.splitlines()}
    assert len(pids) == 1
    assert len(_daemons()) == 1


def test_stale_files_are_cleaned_and_a_restart_binds_at_once(
        daemon_env: dict[str, str], tmp_path: Path) -> None:
    _cli(daemon_env, "serve", "start")
    (files, hello), = _daemons()
    os.kill(int(hello["pid"]), signal.SIGKILL)  # leaves its socket and state files behind
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and runtime._alive(int(hello["pid"])):
        time.sleep(0.05)
    assert files.socket.exists() and files.state.exists()
    src = tmp_path / "app.py"
    src.write_text(SOURCE)
    out = json.loads(_cli(daemon_env, "complete", f"{src}:6:16", "--json").stdout)
    assert out["text"].strip()
    (_files, again), = _daemons()
    assert again["pid"] != hello["pid"]


async def test_a_daemon_killed_mid_request_fails_that_request_at_once_and_restarts(
        daemon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in daemon_env.items():
        monkeypatch.setenv(key, value)
    config = Config()
    config.model = daemon_env["CODESLM_MODEL"]
    backend = DaemonBackend(config, model_path=Path(daemon_env["CODESLM_MODEL"]))
    request = GenerationRequest(prompt="# a long list of fruit names\nfruits = [", max_tokens=400)
    stream = backend.stream(request)
    first = await stream.__anext__()  # the prompt's accounting: the request runs
    assert first.usage is not None
    pid = int(runtime.ping(backend.files())["pid"])  # type: ignore[index]
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        async for _chunk in stream:
            pass
    assert time.monotonic() - started < 5
    result = await backend.generate(GenerationRequest(prompt="def add(a, b):\n", max_tokens=8))
    assert result.finish_reason in ("stop", "length")
    assert int(runtime.ping(backend.files())["pid"]) != pid  # type: ignore[index]


async def test_a_real_request_cancels_a_warm_up(daemon_env: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in daemon_env.items():
        monkeypatch.setenv(key, value)
    model = Path(daemon_env["CODESLM_MODEL"])
    backend = DaemonBackend(Config(), model_path=model)
    text = (Path(json.__file__).parent / "decoder.py").read_text()
    warm = GenerationRequest(prompt=text[:6000], max_tokens=1, warm=True)
    warm_task = asyncio.ensure_future(backend.generate(warm))
    await asyncio.sleep(1.0)  # the warm-up is evaluating its long prompt
    real = await backend.generate(GenerationRequest(prompt="def add(a, b):\n", max_tokens=8))
    warmed = await warm_task
    assert real.finish_reason in ("stop", "length")
    assert warmed.finish_reason == "cancelled"
    status = _status(backend.files())
    assert status["warm_cancelled"] == 1 and status["requests"] == 1


def test_malformed_requests_get_one_error_line_and_the_daemon_lives(
        daemon_env: dict[str, str]) -> None:
    _cli(daemon_env, "serve", "start")
    (files, hello), = _daemons()
    for payload in (b"not json\n", b"[1, 2]\n", b'{"op": "format-disk"}\n',
                    b'{"op": "generate", "request": {"prompt": "x", "max_tokens": -1}}\n',
                    b'{"op": "generate", "request": {"prompt": "x", "evil": 1}}\n',
                    b'{"op": "tokenize", "text": 5}\n', b"[" * 100000 + b"\n",
                    b"x" * (protocol.MAX_LINE_BYTES + 10) + b"\n"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(str(files.socket))
            with_contextlib_sendall(sock, payload)
            reply = sock.makefile("rb").readline()
        assert b'"error"' in reply, payload[:40]
    assert runtime.ping(files)["pid"] == hello["pid"]  # type: ignore[index]


def with_contextlib_sendall(sock: socket.socket, payload: bytes) -> None:
    """Send, tolerating the daemon closing early on an oversized line."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(payload)


def test_the_daemon_exits_when_idle(daemon_env: dict[str, str]) -> None:
    env = dict(daemon_env, CODESLM_DAEMON_IDLE_MINUTES="0.03")  # ~2 s
    _cli(env, "serve", "start")
    (files, hello), = _daemons()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runtime._alive(int(hello["pid"])):
        time.sleep(0.2)
    assert not runtime._alive(int(hello["pid"]))
    assert not files.socket.exists() and not files.state.exists()
    assert _cli(env, "serve", "status", check=False).returncode == 1


def test_a_runtime_directory_others_can_reach_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    monkeypatch.setenv("CODESLM_RUNTIME_DIR", str(shared))
    with pytest.raises(ConfigError, match="reachable by other users"):
        runtime.runtime_dir()


def test_a_broken_model_fails_the_start_with_one_line(daemon_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    src = tmp_path / "app.py"
    src.write_text(SOURCE)
    env = dict(daemon_env, CODESLM_MODEL=str(bad))
    out = _cli(env, "complete", f"{src}:6:16", check=False)
    assert out.returncode == 3, out.stderr  # a model error, not a crash
    assert out.stderr.strip().count("\n") <= 1, out.stderr
    assert out.stderr.startswith("error:")


def _staged_repo(path: Path) -> Path:
    path.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=path, check=True)
    (path / "app.py").write_text("def add(a, b):\n    return a + b\n")
    subprocess.run([*git, "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "add app"], cwd=path, check=True)
    (path / "app.py").write_text("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n"
                                 "    return a - b\n")
    subprocess.run([*git, "add", "-A"], cwd=path, check=True)
    return path


def test_the_hook_loads_the_model_early_only_when_it_will_write(
        daemon_env: dict[str, str], tmp_path: Path) -> None:
    repo = _staged_repo(tmp_path / "repo")
    message = repo / ".git" / "COMMIT_EDITMSG"
    # `git commit -m`: the hook writes nothing, and no model is loaded for it.
    message.write_text("my own message\n")
    hook = ["hook", "run", "prepare-commit-msg", str(message)]
    done = subprocess.run([*codeslm_command(), *hook, "message"], cwd=repo, env=daemon_env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and message.read_text() == "my own message\n"
    assert _daemons() == []
    # A plain `git commit`: the daemon is started while the change is read, and serves it.
    message.write_text("\n# Please enter the commit message for your changes.\n")
    done = subprocess.run([*codeslm_command(), *hook, "--timeout", "120"], cwd=repo,
                          env=daemon_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert message.read_text().splitlines()[0].strip(), done.stderr
    found = _daemons()
    assert len(found) == 1 and _status(found[0][0])["requests"] == 1
    # No doctor measured the model in this home: the hook recorded its answer's speed.
    recorded = json.loads(measured_speed.record_path().read_text())
    assert [entry["prefill_tps"] > 0 < entry["decode_tps"] for entry in recorded.values()] == [
        True]


def test_an_early_start_begins_once_and_the_next_request_uses_that_daemon(
        model_path: Path) -> None:
    from codeslm.backends import prestart

    config = Config(model=str(model_path))
    config.daemon.enabled = True
    backend = DaemonBackend(config)
    try:
        assert prestart(config) is True  # returns at once, the model loads meanwhile
        result = asyncio.run(backend.generate(GenerationRequest(prompt="x = ", max_tokens=2)))
        assert result.text is not None
        assert len(_daemons()) == 1
        assert prestart(config) is False  # one answers now: nothing more to start
        config.daemon.enabled = False
        assert prestart(config) is False  # the in-process backend has nothing to start early
    finally:
        runtime.stop(backend.files())


async def test_a_suggestion_shown_early_is_finished_by_the_daemon(
        daemon_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real daemon: a suggestion shown early keeps its request running in the
    daemon; the whole answer it ends with is the one the same request gives in one piece."""
    from codeslm.completion.request import CompletionOptions
    from codeslm.engine import CompletionEngine
    from codeslm.types import CompletionMode, Document, Position

    for key, value in daemon_env.items():
        monkeypatch.setenv(key, value)
    model = Path(daemon_env["CODESLM_MODEL"])
    text = ('import argparse\n\n\ndef parser() -> argparse.ArgumentParser:\n'
            '    parser = argparse.ArgumentParser(description="Count the words of a file.")\n'
            '    parser.add_argument(\n    return parser\n')
    doc, at = Document(text, "cli.py", "python"), Position(5, 24)
    config = Config(n_ctx=2048)
    config.completion.latency_budget_ms = 0
    backend = DaemonBackend(config, model_path=model)
    try:
        single = CompletionOptions(mode=CompletionMode.SINGLE_LINE)
        whole = await CompletionEngine(backend, config).complete(doc, at, single)
        engine = CompletionEngine(backend, config)
        early = CompletionOptions(mode=CompletionMode.SINGLE_LINE, show_within_s=0.05)
        shown = await engine.complete(doc, at, early)
        assert shown.finish_reason == "continuing" and whole.text.startswith(shown.text)
        assert engine.warmer.task is not None and await engine.warmer.task
        offset = text.index("argument(\n") + len("argument(")
        typed = Document(text[:offset] + shown.text + text[offset:], "cli.py", "python")
        rest = engine.cached(typed, Position(5, 24 + len(shown.text)))
        assert rest is not None and shown.text + rest.text == whole.text
    finally:
        await backend.aclose()
