"""Where a user's model daemons live, and starting exactly one of each.

A daemon is identified by a key: the model file and the settings that shape its runtime
(context size, threads, batch, KV reuse). Its files sit in a private runtime directory
(``$CODESLM_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/codeslm``, else ``<tmp>/codeslm-<uid>``),
mode 0700 and owned by the user, so no other local user can reach the socket:

- ``<key>.sock``: the Unix socket the daemon listens on;
- ``<key>.json``: its pid, model and start time (written once it listens);
- ``<key>.lock``: held (``flock``) by the process that is starting it, so that two codeslm
  processes racing to start a daemon start exactly one;
- ``<key>.log``: its log.

A socket file nobody answers on (the daemon crashed or was killed) is stale: the next start
removes it and binds again at once (a Unix socket has no TIME_WAIT).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ...config import Config, effective_threads
from ...errors import BackendUnavailable, CodeslmError, ConfigError
from . import protocol

CONNECT_TIMEOUT_S = 2.0


def supported() -> bool:
    """Whether this platform can run the daemon (Unix sockets and ``flock``)."""
    return os.name == "posix" and hasattr(socket, "AF_UNIX")


def runtime_dir() -> Path:
    """The private directory of this user's daemons, created 0700; ``ConfigError`` when it
    exists but another user could reach it."""
    explicit = os.environ.get("CODESLM_RUNTIME_DIR")
    if explicit:
        path = Path(explicit)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(os.environ["XDG_RUNTIME_DIR"]) / "codeslm"
    else:
        path = Path(tempfile.gettempdir()) / f"codeslm-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path} is not a directory", hint="remove it or set CODESLM_RUNTIME_DIR")
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigError(
            f"{path} is reachable by other users (owner {info.st_uid}, mode "
            f"{stat.S_IMODE(info.st_mode):o})",
            hint=f"chmod 700 {path}, or set CODESLM_RUNTIME_DIR to a private directory",
        )
    return path


@dataclasses.dataclass(frozen=True, slots=True)
class DaemonSpec:
    """What a daemon serves: the model file and the runtime settings it was started with."""

    model_path: str
    model_name: str
    n_ctx: int
    threads: int
    n_batch: int
    kv_reuse: str
    kv_refresh: int
    idle_s: float
    adapter: str = ""  # the GGUF LoRA it applies (codeslm tune), resolved in the client
    adaptive_threads: bool = True
    kv_stash: int = 2
    kv_heads: int = 16

    @classmethod
    def from_config(cls, config: Config, model_path: Path, model_name: str) -> DaemonSpec:
        return cls(
            model_path=str(model_path.resolve()),
            model_name=model_name,
            n_ctx=config.n_ctx,
            threads=effective_threads(config),
            n_batch=config.n_batch,
            kv_reuse=config.completion.kv_reuse,
            kv_refresh=config.completion.kv_refresh_tokens,
            idle_s=max(0.0, config.daemon.idle_minutes * 60),
            adapter=_adapter(config, model_path),
            adaptive_threads=config.adaptive_threads,
            kv_stash=config.completion.kv_stash_slots,
            kv_heads=config.kv_head_files,
        )

    @property
    def key(self) -> str:
        """Stable name of this daemon (the idle time does not change what it serves)."""
        try:
            st = os.stat(self.model_path)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        text = "|".join(
            map(
                str,
                (
                    self.model_path,
                    stamp,
                    self.n_ctx,
                    self.threads,
                    self.n_batch,
                    self.kv_reuse,
                    self.kv_refresh,
                    self.adapter,
                    self.adaptive_threads,
                    self.kv_stash,
                    self.kv_heads,
                ),
            )
        )
        return "d-" + hashlib.sha256(text.encode()).hexdigest()[:12]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DaemonSpec:
        return cls(**json.loads(text))


def _adapter(config: Config, model_path: Path) -> str:
    """The adapter ``completion.adapter`` selects here (the client's repository), as a path."""
    from ...tune.store import resolve_setting

    found = resolve_setting(config.completion.adapter, model_path)
    return str(found) if found is not None else ""


@dataclasses.dataclass(frozen=True, slots=True)
class DaemonFiles:
    """The runtime files of one daemon."""

    socket: Path
    state: Path
    lock: Path
    log: Path

    @classmethod
    def for_key(cls, key: str, directory: Path | None = None) -> DaemonFiles:
        base = directory or runtime_dir()
        return cls(
            base / f"{key}.sock", base / f"{key}.json", base / f"{key}.lock", base / f"{key}.log"
        )


def call(path: Path, message: dict[str, Any], *, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """Send one operation and read its single reply line (blocking); raises OSError when
    nobody answers and the carried error when the daemon reports one."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(protocol.encode(message))
        reader = sock.makefile("rb")
        line = reader.readline(protocol.MAX_LINE_BYTES)
    if not line:
        raise ConnectionResetError("the daemon closed the connection")
    reply = protocol.decode(line)
    if "error" in reply:
        raise protocol.error_from_wire(reply["error"])
    return reply


def ping(files: DaemonFiles) -> dict[str, Any] | None:
    """The daemon's hello (pid, model) when one answers on ``files.socket``, else None."""
    try:
        reply = call(files.socket, {"op": "ping"})
    except (OSError, ValueError):
        return None
    return reply if isinstance(reply, dict) and reply.get("ok") else None


def ensure_running(spec: DaemonSpec, *, timeout_s: float) -> DaemonFiles:
    """Return the files of a daemon serving ``spec``, starting it when none answers.

    Of several processes calling this at once exactly one starts the daemon; the others wait
    on the lock, then find it answering. Stale files of a dead daemon are removed first.
    """
    files = DaemonFiles.for_key(spec.key)
    if ping(files) is not None:
        return files
    deadline = time.monotonic() + timeout_s
    with _locked(files.lock, deadline):
        if ping(files) is not None:
            return files  # another process started it while we waited for the lock
        _remove_stale(files)
        process = _spawn(spec, files)
        while time.monotonic() < deadline:
            if ping(files) is not None:
                return files
            if process.poll() is not None:
                reported = _start_error(files.state)
                if reported is not None:
                    raise reported
                raise BackendUnavailable(
                    f"the model daemon exited at start (code {process.returncode}): "
                    f"{_last_line(files.log)}",
                    hint=f"see {files.log}; or set [daemon] enabled = false to run in-process",
                )
            time.sleep(0.05)
        with contextlib.suppress(OSError):
            process.kill()
        raise BackendUnavailable(
            f"the model daemon did not answer within {timeout_s:.0f} s",
            hint=f"see {files.log}; raise [daemon] start_timeout_s on a slow machine",
        )


def stop(files: DaemonFiles, *, timeout_s: float = 10.0) -> bool:
    """Ask the daemon to exit and wait until it has; True when one was running."""
    hello = ping(files)
    if hello is None:
        _remove_stale(files)
        return False
    with contextlib.suppress(OSError, ValueError):
        call(files.socket, {"op": "stop"})
    pid = int(hello.get("pid", 0))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    _remove_stale(files)
    return True


def running() -> list[tuple[DaemonFiles, dict[str, Any]]]:
    """Every daemon of this user that answers, with its hello; stale files are cleaned."""
    found = []
    base = runtime_dir()
    for sock in sorted(base.glob("d-*.sock")):
        files = DaemonFiles.for_key(sock.stem, base)
        hello = ping(files)
        if hello is None:
            _remove_stale(files)
        else:
            found.append((files, hello))
    return found


def _spawn(spec: DaemonSpec, files: DaemonFiles) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("CODESLM_DAEMON_ENABLED", None)
    log = open(files.log, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "codeslm.backends.daemon",
                "run",
                "--spec",
                spec.to_json(),
                "--socket",
                str(files.socket),
                "--state",
                str(files.state),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,  # outlives the editor or hook that started it
            close_fds=True,
        )
    finally:
        log.close()


class _locked(contextlib.AbstractContextManager[None]):
    """An exclusive ``flock`` on ``path`` until the context ends (waits until ``deadline``)."""

    def __init__(self, path: Path, deadline: float) -> None:
        self._path, self._deadline, self._fd = path, deadline, -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > self._deadline:
                    os.close(self._fd)
                    raise BackendUnavailable(
                        f"another process holds {self._path} while starting the daemon",
                        hint="wait for it, or remove the file if no codeslm process runs",
                    ) from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)


def _remove_stale(files: DaemonFiles) -> None:
    for path in (files.socket, files.state):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return True


def _start_error(state: Path) -> CodeslmError | None:
    """The error a daemon that failed to start left in its state file, if any."""
    try:
        data = json.loads(state.read_text())
    except (OSError, ValueError):
        return None
    finally:
        with contextlib.suppress(OSError):
            state.unlink()
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return protocol.error_from_wire(data["error"])
    return None


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 4096))
            lines = handle.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no log"
