"""Real vLLM servers for the ``vllm`` test group, started by ``codeslm serve --backend vllm``.

Each module gets its own server (``vllm_server``, or one with a LoRA adapter). The server is
vLLM's CPU build from codeslm's own vLLM environment (``codeslm setup --vllm`` or ``python3 -m
codeslm.runtime.vllm_env install``, which ``.ci/run`` runs first; ``CODESLM_VLLM_VENV`` may name
another one) serving the default
model converted from its verified GGUF. It runs with the real user caches (the converted model
is kept between runs, like the GGUF itself) but no user configuration. Without a vLLM
installation the group is skipped with the command that installs it.

The fixture stops the server (``codeslm serve`` gets SIGTERM and stops vLLM's process group)
even when a test fails; the last test of test_vllm_server.py kills vLLM on purpose.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "lsp"))  # lsp_harness, shared with the LSP tests

STARTUP_TIMEOUT_S = 900.0  # a fresh machine converts the model (~2 min) before vLLM starts


@dataclass
class VllmServer:
    """The running ``codeslm serve --backend vllm`` and what it printed."""

    url: str
    pid: int  # vLLM's API server (leader of its process group)
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    def metric(self, name: str) -> float:
        """The sum of a /metrics sample over its label sets."""
        text = httpx.get(self.url + "/metrics", timeout=10, trust_env=False).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith((name + "{", name + " ")):
                total += float(line.rsplit(" ", 1)[1])
        return total


# The suite's model (the 1.5B default would need its own conversion and twice the memory).
TEST_MODEL = "qwen2.5-coder-0.5b"


def write_config(path: Path) -> Path:
    """A config file that names only the suite's model."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'model = "{TEST_MODEL}"\n')
    return path


def serve_env(config: Path) -> dict[str, str]:
    """The server's environment: real caches, no user settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    if os.environ.get("CODESLM_VLLM_VENV"):
        env["CODESLM_VLLM_VENV"] = os.environ["CODESLM_VLLM_VENV"]
    env.update({"CODESLM_CONFIG": str(config), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    return env


def vllm_python() -> Path:
    """The Python of the vLLM installation the tests use (skip when there is none)."""
    saved = os.environ.pop("CODESLM_HOME", None)
    try:
        from codeslm.runtime import vllm_env

        found = vllm_env.find()
    finally:
        if saved is not None:
            os.environ["CODESLM_HOME"] = saved
    if found is None:
        pytest.skip("vLLM is not installed: `codeslm setup --vllm` installs its CPU build")
    return found.python


@contextlib.contextmanager
def running_server(config_dir: Path, *extra: str, port: int = 0) -> Iterator[VllmServer]:
    """``codeslm serve --backend vllm --port PORT EXTRA...`` until the block ends."""
    config = write_config(config_dir / "config.toml")
    argv = [sys.executable, "-m", "codeslm", "serve", "--backend", "vllm", "--port", str(port)]
    process = subprocess.Popen(
        [*argv, *extra],
        cwd=REPO,
        env=serve_env(config),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    errors: list[str] = []

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            errors.append(line.rstrip("\n"))

    threading.Thread(target=drain, daemon=True).start()
    ready = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    for line in process.stdout:
        ready = re.match(r"ready: (http://\S+) \(vllm, model \S+, pid (\d+),", line)
        if ready or time.monotonic() > deadline:
            break
    if ready is None:
        process.kill()
        process.wait()
        pytest.fail("codeslm serve --backend vllm did not get ready:\n" + "\n".join(errors[-15:]))
    server = VllmServer(ready.group(1), int(ready.group(2)), process, errors)
    # The FIM self-test runs after "ready"; wait for its line so tests see the whole start.
    while not any("FIM self-test" in e for e in errors) and time.monotonic() < deadline:
        if process.poll() is not None:
            break
        time.sleep(0.5)
    try:
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Whatever outlived codeslm serve (nothing, if it stopped cleanly) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(server.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """One server per test module (never two at once: each takes ~6 GB)."""
    vllm_python()
    with running_server(tmp_path_factory.mktemp("vllm-config")) as server:
        yield server


def client_env(home: Path) -> dict[str, str]:
    """Environment for codeslm client commands: a private home (its config names the suite's
    model, below any project file), the test session's settings."""
    write_config(home / "config.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update({"CODESLM_HOME": str(home), "NO_COLOR": "1"})
    for name in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env
