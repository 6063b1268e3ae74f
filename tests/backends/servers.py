"""Real model servers for the tests: ``codeslm serve`` subprocesses on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from codeslm.backends.base import Backend
from codeslm.types import Chunk, GenerationRequest
from tests.conftest import REPO, codeslm_command

READY = re.compile(r"^ready: (http://\S+) \((\S+), model (.+), pid (\d+),")


def server_env(home: Path, model_path: Path, **settings: str) -> dict[str, str]:
    """A clean environment for a server or client subprocess on the real model.

    It keeps the suite's daemon settings (off, in a private directory): a CLI command run here
    would otherwise start the shared model daemon in the user's own runtime directory, where
    it outlived the run, and its "embedded" results would come from that daemon."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update({"CODESLM_HOME": str(home), "CODESLM_MODEL": str(model_path), "NO_COLOR": "1"})
    env.update(settings)
    return env


@dataclass
class Served:
    """A running ``codeslm serve`` and the model server it manages."""

    proc: subprocess.Popen[str]
    url: str
    kind: str
    server_pid: int
    stderr: list[str] = field(default_factory=list)
    stdout: list[str] = field(default_factory=list)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the model server process."""
        fields = Path(f"/proc/{self.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_text(self) -> str:
        found = [line for line in self.stderr if "(log: " in line]
        if not found:
            return ""
        path = found[0].split("(log: ", 1)[1].rstrip(")\n")
        return Path(path).read_text(errors="replace")

    def crash(self) -> None:
        """SIGKILL the model server (not codeslm serve): a server dying under its clients."""
        os.kill(self.server_pid, signal.SIGKILL)

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=10)


def start_served(env: dict[str, str], *extra: str, timeout: float = 240) -> Served:
    """Start ``codeslm serve --port 0`` and wait for its ``ready:`` line."""
    proc = subprocess.Popen(
        [*codeslm_command(), "serve", "--port", "0", *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    stdout: list[str] = []
    assert proc.stderr is not None and proc.stdout is not None
    threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"codeslm serve exited ({proc.wait()}): {''.join(stderr)}")
        stdout.append(line)
        match = READY.match(line)
        if match:
            served = Served(
                proc, match.group(1), match.group(2), int(match.group(4)), stderr, stdout
            )
            threading.Thread(target=lambda: stdout.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
            return served
    proc.kill()
    raise AssertionError(f"codeslm serve not ready after {timeout} s: {''.join(stderr)}")


LONG_PROMPT = "# A long tutorial about Python lists, with many examples\n"


async def assert_closing_stops_generation(
    served: Served, backend: Backend, max_tokens: int = 400
) -> None:
    """Server-side proof that closing a stream stops the generation.

    While the client reads, the server burns CPU (the control rate). After ``aclose()`` the
    server may finish the token in progress (seconds on two contended cores), then its CPU use
    must drop and stay down, well before the rest of the requested tokens could have been
    generated at the observed speed.
    """
    stream = cast(
        AsyncGenerator[Chunk, None],
        backend.stream(GenerationRequest(prompt=LONG_PROMPT, max_tokens=max_tokens)),
    )
    received = 0
    async for chunk in stream:
        received += bool(chunk.text)
        if received == 3:
            break
    cpu0, t0 = served.cpu_seconds(), time.monotonic()
    in_window = 0
    async for chunk in stream:
        in_window += bool(chunk.text)
        if time.monotonic() - t0 >= 1.5:
            break
    elapsed = time.monotonic() - t0
    busy = (served.cpu_seconds() - cpu0) / elapsed
    remaining_s = (max_tokens - received - in_window) / max(in_window / elapsed, 0.05)
    await stream.aclose()
    closed = time.monotonic()
    assert busy > 0.2, f"the control window saw no work ({busy:.2f} CPU s/s)"
    quiet_after: float | None = None
    while time.monotonic() - closed < min(60.0, remaining_s / 2):
        before = served.cpu_seconds()
        await asyncio.sleep(0.5)
        if (served.cpu_seconds() - before) / 0.5 < busy / 4:
            quiet_after = time.monotonic() - closed
            break
    assert quiet_after is not None, (
        f"the server kept computing after the client left (busy {busy:.2f} CPU s/s, "
        f"{remaining_s:.0f} s of generation were left)"
    )
    before = served.cpu_seconds()
    await asyncio.sleep(2.0)
    stays = (served.cpu_seconds() - before) / 2.0
    assert stays < busy / 4, (busy, stays)
