"""Run an untrusted generated Python program in a subprocess: a timeout, a private temporary
working directory, memory and CPU limits, no network.

The network is cut twice: inside a fresh network namespace (``unshare -rn``) when the machine
allows unprivileged user namespaces, and in every case by a preamble that makes creating a
socket raise. The program's output is discarded except the tail of stderr, kept to explain a
failure.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

# Runs before the program: creating a socket raises.
_PREAMBLE = """\
import socket as _socket
class _NoSocket(_socket.socket):
    def __init__(self, *args, **kwargs):
        raise PermissionError("the network is disabled in the evaluation sandbox")
_socket.socket = _NoSocket
del _socket
"""

MEMORY_LIMIT_BYTES = 2 * 1024**3


@dataclass(frozen=True, slots=True)
class RunResult:
    """``passed`` when the program exited 0 within the time limit."""

    passed: bool
    status: str  # passed | failed | timeout
    detail: str = ""


@functools.cache
def _network_namespace_prefix() -> tuple[str, ...]:
    """``("unshare", "-rn")`` when an unprivileged network namespace works here, else ()."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


def _limit_resources(timeout_s: float) -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    cpu = int(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024**2, 16 * 1024**2))
    os.setsid()


def run_program(program: str, *, timeout_s: float = 10.0) -> RunResult:
    """Execute ``program`` with the sandbox limits; see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="codeslm-eval-") as workdir:
        path = os.path.join(workdir, "program.py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(_PREAMBLE)
            fh.write(program)
        command = [*_network_namespace_prefix(), sys.executable, "-I", "-B", path]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0",
               "HOME": workdir, "LANG": "C.UTF-8"}
        try:
            proc = subprocess.run(
                command, cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout_s,
                preexec_fn=functools.partial(_limit_resources, timeout_s),
            )
        except subprocess.TimeoutExpired:
            return RunResult(False, "timeout", f"no result within {timeout_s:g}s")
    if proc.returncode == 0:
        return RunResult(True, "passed")
    tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return RunResult(False, "failed", tail[-1][:300] if tail else f"exit {proc.returncode}")
