"""What a managed server is (:class:`LaunchPlan`: argv, environment, URL) and the small facts
every plan needs: ports, URLs, log paths, how a process ended."""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

from ... import paths
from ...errors import ConfigError

VLLM = "vllm"
LLAMA_CPP = "llama-cpp"
LLAMA_SERVER = "llama-server"
MANAGED = (VLLM, LLAMA_CPP, LLAMA_SERVER)

# What clients pass as --backend to use each managed server.
CLIENT_BACKEND = {VLLM: "vllm", LLAMA_CPP: "openai-compatible", LLAMA_SERVER: "llama-server"}


@dataclass(frozen=True, slots=True)
class LaunchPlan:
    """How to start one server and how to know it is ready."""

    kind: str
    argv: list[str]
    env: dict[str, str]
    url: str
    health_path: str
    model: str
    log_path: Path
    notes: tuple[str, ...] = field(default=())

    @property
    def client_backend(self) -> str:
        return CLIENT_BACKEND[self.kind]


def free_port(host: str) -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port(host: str, port: int) -> None:
    """ConfigError if ``host:port`` cannot be bound (another server is there).

    The check binds as the servers themselves do (uvicorn, llama-server), with SO_REUSEADDR:
    after a server dies under a connected client its old connections linger in TIME_WAIT for
    a minute, which such a bind ignores, while a port another process listens on is still
    refused. (On Windows SO_REUSEADDR would even share a listening port, so it is not set.)
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                hint="another server may be running there; pass --port N (or 0 for any free "
                "port), or stop it",
            ) from None


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in {"0.0.0.0", ""} else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def describe_exit(code: int | None) -> str:
    """``exited with code 1`` / ``was killed by signal 9`` for a process return code."""
    if code is None:
        return "is still running"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def log_path_for(kind: str, port: int) -> Path:
    return paths.log_dir() / f"serve-{kind}-{port}.log"
