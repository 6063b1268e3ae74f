"""Managed model servers behind ``codeslm serve``: vLLM on a GPU, llama.cpp on a CPU.

A :class:`LaunchPlan` (pure: argv, environment, URL) is built from the config, then a
:class:`ManagedServer` runs it: the child gets its own process group (so a terminal's Ctrl-C
reaches codeslm, which then stops the child in order), its output goes to a log file under
:func:`codeslm.paths.log_dir`, readiness is polled over HTTP, and stopping sends SIGTERM to the
group, then SIGKILL after a grace period.

Servers bind to 127.0.0.1 unless the config says otherwise: vLLM's ``/health`` and
``/metrics`` are never behind an API key.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from . import paths
from .config import Config, effective_threads
from .errors import BackendUnavailable, ConfigError

VLLM = "vllm"
LLAMA_CPP = "llama-cpp"
LLAMA_SERVER = "llama-server"
MANAGED = (VLLM, LLAMA_CPP, LLAMA_SERVER)

# What clients pass as --backend to use each managed server.
CLIENT_BACKEND = {VLLM: "vllm", LLAMA_CPP: "openai-compatible", LLAMA_SERVER: "llama-server"}

# n-gram (prompt lookup) speculation: code completions copy a lot from their own prompt.
NGRAM_SPEC = {
    "method": "ngram",
    "num_speculative_tokens": 4,
    "prompt_lookup_min": 2,
    "prompt_lookup_max": 5,
}


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


# -- vLLM -----------------------------------------------------------------------------------


def vllm_executable() -> list[str]:
    """The command that runs vLLM's CLI; BackendUnavailable when vLLM is not installed."""
    sibling = Path(sys.executable).with_name("vllm")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    found = shutil.which("vllm")
    if found:
        return [found]
    if importlib.util.find_spec("vllm") is not None:
        return [sys.executable, "-m", "vllm.entrypoints.cli.main"]
    raise BackendUnavailable(
        "vLLM is not installed in this environment",
        hint="on a machine with an NVIDIA GPU: pip install 'codeslm[vllm]'; on a CPU use "
        "`codeslm serve --backend llama-cpp`",
    )


def find_gpu() -> str:
    """A one-line description of the GPU vLLM would use; BackendUnavailable when there is none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in {"", "-1"}:
        raise BackendUnavailable(
            f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU from vLLM",
            hint="unset CUDA_VISIBLE_DEVICES or name a GPU index",
        )
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendUnavailable(
                f"nvidia-smi failed ({exc})", hint="check the NVIDIA driver"
            ) from None
        gpus = [line for line in out.stdout.splitlines() if line.startswith("GPU ")]
        if out.returncode == 0 and gpus:
            return gpus[0] + (f" (+{len(gpus) - 1} more)" if len(gpus) > 1 else "")
        raise BackendUnavailable(
            "nvidia-smi finds no usable GPU: "
            + (" ".join(out.stderr.split())[:160] or "no GPU listed"),
            hint="check the NVIDIA driver; on a CPU use `codeslm serve --backend llama-cpp`",
        )
    if Path("/dev/kfd").exists():
        return "AMD GPU (ROCm /dev/kfd)"
    raise BackendUnavailable(
        "no GPU found (no nvidia-smi, no ROCm device): vLLM needs an NVIDIA or AMD GPU",
        hint="on a CPU use `codeslm serve --backend llama-cpp`; pass --no-gpu-check for a "
        "CPU or TPU build of vLLM",
    )


def hf_cache_has(model_id: str) -> bool:
    """Whether the Hugging Face cache already holds a snapshot of ``model_id``."""
    root = os.environ.get("HF_HUB_CACHE")
    if root is None:
        hf_home = os.environ.get("HF_HOME", str(Path.home() / ".cache" / "huggingface"))
        root = str(Path(hf_home) / "hub")
    snapshots = Path(root) / f"models--{model_id.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def vllm_model_id(name: str) -> str:
    """A model vLLM can load: an HF id or a local directory (a known codeslm name maps to the
    original checkpoint of its GGUF)."""
    from .models.registry import find_spec

    if name.endswith(".gguf"):
        raise ConfigError(
            f"{name} is a GGUF file; vLLM serves Hugging Face checkpoints",
            hint="pass --model with a Hugging Face id such as Qwen/Qwen2.5-Coder-1.5B, or use "
            "`codeslm serve --backend llama-cpp` for GGUF files",
        )
    spec = find_spec(name)
    if spec is not None:
        if spec.hf_repo and spec.hf_repo.endswith("-GGUF"):
            return spec.hf_repo[: -len("-GGUF")]
        raise ConfigError(
            f"codeslm knows {name} only as a GGUF file",
            hint="pass --model with a Hugging Face id or a local checkpoint",
        )
    return name


def vllm_plan(
    config: Config, model: str, *, port: int, executable: list[str] | None = None
) -> LaunchPlan:
    """``vllm serve`` with codeslm's flags (prefix caching, neutral generation config...)."""
    serve = config.serve
    if executable is None:
        executable = vllm_executable()
    model_id = vllm_model_id(model)
    local = Path(model_id).expanduser()
    argv = [
        *executable,
        "serve",
        str(local) if local.exists() else model_id,
        "--host",
        serve.host,
        "--port",
        str(port),
        "--max-model-len",
        str(serve.max_model_len),
        "--gpu-memory-utilization",
        str(serve.gpu_memory_utilization),
        "--max-num-seqs",
        "16",  # an editor or a small team, not a batch job
        "--enable-prefix-caching",
        "--generation-config",
        "vllm",  # do not let the checkpoint's sampling defaults win
    ]
    if serve.speculative_ngram:
        argv += ["--speculative-config", json.dumps(NGRAM_SPEC, separators=(",", ":"))]
    if config.api_key:
        argv += ["--api-key", config.api_key]
    argv += list(serve.extra_args)
    env = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    notes: list[str] = []
    if local.exists() or hf_cache_has(model_id):
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        notes.append("model is local: Hugging Face offline mode")
    return LaunchPlan(
        VLLM,
        argv,
        env,
        url_for(serve.host, port),
        "/health",
        model_id,
        log_path_for(VLLM, port),
        tuple(notes),
    )


# -- llama.cpp --------------------------------------------------------------------------------


def llamacpp_plan(config: Config, model_path: Path, model_name: str, *, port: int) -> LaunchPlan:
    """llama-cpp-python's OpenAI-compatible server for a GGUF file.

    Requests queue instead of interrupting each other (``--interrupt_requests False``), so one
    editor's request never kills another's generation; clients cancel by disconnecting.
    """
    serve = config.serve
    threads = str(effective_threads(config))
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model_path),
        "--model_alias",
        model_name,
        "--host",
        serve.host,
        "--port",
        str(port),
        "--n_ctx",
        str(config.n_ctx),
        "--n_batch",
        str(config.n_batch),
        "--n_threads",
        threads,
        "--n_threads_batch",
        threads,
        "--interrupt_requests",
        "False",
    ]
    if config.api_key:
        argv += ["--api_key", config.api_key]
    argv += list(serve.extra_args)
    # llama-cpp-python has no /health: /v1/models answers once the model is loaded.
    return LaunchPlan(
        LLAMA_CPP,
        argv,
        {},
        url_for(serve.host, port),
        "/v1/models",
        model_name,
        log_path_for(LLAMA_CPP, port),
    )


def llama_server_executable() -> str:
    found = os.environ.get("CODESLM_LLAMA_SERVER") or shutil.which("llama-server")
    if not found:
        raise BackendUnavailable(
            "llama-server (llama.cpp) is not on PATH",
            hint="install llama.cpp or set CODESLM_LLAMA_SERVER; or use "
            "`codeslm serve --backend llama-cpp` (llama-cpp-python)",
        )
    return found


def llama_server_plan(
    config: Config, model_path: Path, model_name: str, *, port: int
) -> LaunchPlan:
    """llama.cpp's own server: one slot, prompt-cache reuse, metrics on."""
    serve = config.serve
    argv = [
        llama_server_executable(),
        "-m",
        str(model_path),
        "--alias",
        model_name,
        "--host",
        serve.host,
        "--port",
        str(port),
        "-c",
        str(config.n_ctx),
        "-b",
        str(max(config.n_batch, 64)),
        "-t",
        str(effective_threads(config)),
        "--parallel",
        "1",
        "--cache-reuse",
        "256",
        "--metrics",
    ]
    if config.api_key:
        argv += ["--api-key", config.api_key]
    argv += list(serve.extra_args)
    return LaunchPlan(
        LLAMA_SERVER,
        argv,
        {},
        url_for(serve.host, port),
        "/health",
        model_name,
        log_path_for(LLAMA_SERVER, port),
    )


# -- running ----------------------------------------------------------------------------------


class ManagedServer:
    """One running server process; see the module docstring."""

    def __init__(self, plan: LaunchPlan) -> None:
        self.plan = plan
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.plan.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.plan.log_path.open("ab")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        log.write(f"\n==== {stamp} codeslm serve: {' '.join(self.plan.argv)}\n".encode())
        log.flush()
        env = {**os.environ, **self.plan.env}
        try:
            self.process = subprocess.Popen(
                self.plan.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot start {self.plan.argv[0]}: {exc.strerror or exc}"
            ) from None
        finally:
            log.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 8) -> list[str]:
        """The last lines of this run's log (for error messages)."""
        try:
            data = self.plan.log_path.read_bytes()[-16_000:].decode("utf-8", "replace")
        except OSError:
            return []
        text = data.rsplit("==== ", 1)[-1]
        return [line for line in text.splitlines() if line.strip()][-lines:]

    def wait_ready(
        self, timeout_s: float, progress: Callable[[float, str], None] | None = None
    ) -> float:
        """Poll the health URL until it answers 200; returns the seconds it took.

        Raises BackendUnavailable if the process exits or the timeout passes (then stops it).
        """
        assert self.process is not None
        started = time.monotonic()
        url = self.plan.url + self.plan.health_path
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                elapsed = time.monotonic() - started
                code = self.process.poll()
                if code is not None:
                    tail = " | ".join(self.log_tail(4))
                    raise BackendUnavailable(
                        f"{self.plan.kind} {describe_exit(code)} while starting: {tail[-400:]}",
                        hint=f"full log: {self.plan.log_path}",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url).status_code == 200:
                        return elapsed
                if elapsed > timeout_s:
                    self.stop()
                    raise BackendUnavailable(
                        f"{self.plan.kind} was not ready after {timeout_s:.0f} s",
                        hint=f"see {self.plan.log_path}; raise serve.startup_timeout_s",
                    )
                if progress is not None:
                    recent = self.log_tail(1)
                    progress(elapsed, recent[0] if recent else "")
                time.sleep(0.5)

    def stop(self, grace_s: float = 20.0) -> int | None:
        """SIGTERM the server's process group, SIGKILL it after ``grace_s``; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Children that outlived the leader (vLLM's engine core) go with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode
