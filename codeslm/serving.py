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
import re
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

from . import paths, vllm_env
from .config import Config, effective_threads
from .errors import BackendUnavailable, ConfigError
from .vllm_env import VllmInstall

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


NOT_INSTALLED_HINT = (
    "on a machine with an NVIDIA GPU: pip install 'codeslm[vllm]'; to try vLLM's CPU build: "
    "codeslm setup --vllm (its own environment, ~3.5 GB); or use `codeslm serve --backend "
    "llama-cpp` on a CPU"
)


def vllm_install() -> VllmInstall:
    """The vLLM to run (this Python's, else codeslm's vLLM environment); BackendUnavailable
    when there is none."""
    found = vllm_env.find()
    if found is None:
        raise BackendUnavailable(
            "vLLM is not installed in this environment", hint=NOT_INSTALLED_HINT
        )
    return found


def vllm_command(install: VllmInstall) -> list[str]:
    """The command that runs vLLM's CLI from ``install``.

    The CPU build goes through :mod:`codeslm.vllm_launch` (its ``vllm`` entry point fails under
    the ``vllm-cpu`` distribution name); ``-P`` keeps the launcher's folder off ``sys.path``.
    """
    if install.cpu:
        return [str(install.python), "-P", str(Path(__file__).with_name("vllm_launch.py"))]
    sibling = install.python.with_name("vllm")
    if sibling.is_file() and os.access(sibling, os.X_OK):
        return [str(sibling)]
    return [str(install.python), "-m", "vllm.entrypoints.cli.main"]


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
    return vllm_command(vllm_install())


def cpu_threads_bind() -> str:
    """``VLLM_CPU_OMP_THREADS_BIND`` for the cores this process may use (``0-1``, ``0,2,5``).

    vLLM's default binds one core per worker here, which halves the speed on two cores.
    """
    try:
        cores = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = list(range(os.cpu_count() or 1))
    if cores == list(range(cores[0], cores[-1] + 1)):
        return f"{cores[0]}-{cores[-1]}" if len(cores) > 1 else str(cores[0])
    return ",".join(str(c) for c in cores)


def available_memory_gib() -> float | None:
    """MemAvailable from /proc/meminfo in GiB (None where there is no such file)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu_kv_cache_gib(available_gib: float | None) -> int:
    """KV cache for the CPU build, from free memory: an eighth of it, 1 to 4 GiB.

    The server itself (weights, torch, three processes) takes ~4 GB for a 0.5B model; 1 GiB of
    KV cache already holds ~85k tokens of Qwen2.5-Coder-0.5B, far more than an editor needs.
    """
    if available_gib is None:
        return 2
    return int(min(4, max(1, available_gib // 8)))


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


# The LoRA ranks vLLM accepts for --max-lora-rank.
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def parse_lora(value: str) -> tuple[str, Path]:
    """``NAME=PATH`` of one LoRA adapter (a PEFT folder); ConfigError when it is not one."""
    name, sep, where = value.partition("=")
    name = name.strip()
    if not sep or not name or not where.strip() or any(c.isspace() for c in name):
        raise ConfigError(
            f"--lora takes NAME=PATH, not {value!r}",
            hint="e.g. --lora myrepo=~/adapters/myrepo (a PEFT adapter folder)",
        )
    path = Path(where.strip()).expanduser().resolve()
    if not (path / "adapter_config.json").is_file():
        raise ConfigError(
            f"{path} is not a LoRA adapter (no adapter_config.json)",
            hint="point --lora at the folder PEFT's save_pretrained wrote",
        )
    return name, path


def lora_rank(adapters: list[tuple[str, Path]]) -> int:
    """The --max-lora-rank that fits every adapter (their largest ``r``, rounded up)."""
    largest = 1
    for _name, path in adapters:
        try:
            config = json.loads((path / "adapter_config.json").read_text())
            largest = max(largest, int(config.get("r", 8)))
        except (OSError, ValueError, TypeError):
            largest = max(largest, 8)
    return next((r for r in LORA_RANKS if r >= largest), largest)


def vllm_plan(
    config: Config,
    model: str,
    *,
    port: int,
    executable: list[str] | None = None,
    install: VllmInstall | None = None,
    served_name: str | None = None,
    loras: list[tuple[str, Path]] | None = None,
) -> LaunchPlan:
    """``vllm serve`` with codeslm's flags (prefix caching, neutral generation config...).

    With the CPU build (``install.cpu``): eager mode (compiling costs ~2 minutes at the first
    start and was not faster here), bf16, threads bound to this process's cores, KV cache space
    from free memory, and no n-gram speculation or GPU memory share.
    """
    serve = config.serve
    cpu = install is not None and install.cpu
    if executable is None:
        executable = vllm_command(install) if install is not None else vllm_executable()
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
    ]
    if not cpu:
        argv += ["--gpu-memory-utilization", str(serve.gpu_memory_utilization)]
    if served_name:
        argv += ["--served-model-name", served_name]
    argv += [
        "--max-num-seqs",
        "16",  # an editor or a small team, not a batch job
        "--enable-prefix-caching",
        "--generation-config",
        "vllm",  # do not let the checkpoint's sampling defaults win
    ]
    if cpu:
        argv += ["--enforce-eager", "--dtype", "bfloat16"]
    elif serve.speculative_ngram:
        argv += ["--speculative-config", json.dumps(NGRAM_SPEC, separators=(",", ":"))]
    if loras:
        # One adapter per repository, each served as a model of its own name.
        argv += ["--enable-lora", "--max-loras", str(min(len(loras), 4))]
        argv += ["--max-lora-rank", str(lora_rank(loras)), "--lora-modules"]
        argv += [f"{name}={path}" for name, path in loras]
    if config.api_key:
        argv += ["--api-key", config.api_key]
    argv += list(serve.extra_args)
    env = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    notes: list[str] = []
    if loras:
        notes.append("LoRA adapters: " + ", ".join(name for name, _ in loras))
    if cpu:
        assert install is not None
        kv = cpu_kv_cache_gib(available_memory_gib())
        env.update(
            {"VLLM_CPU_OMP_THREADS_BIND": cpu_threads_bind(), "VLLM_CPU_KVCACHE_SPACE": str(kv)}
        )
        notes.append(
            f"vLLM CPU build {install.version} ({install.python.parent.parent}): eager mode, "
            f"bf16, threads {env['VLLM_CPU_OMP_THREADS_BIND']}, KV cache {kv} GiB"
        )
    if local.exists() or hf_cache_has(model_id):
        env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
        notes.append("model is local: Hugging Face offline mode")
    return LaunchPlan(
        VLLM,
        argv,
        env,
        url_for(serve.host, port),
        "/health",
        served_name or model_id,
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

# Known ways a vLLM start fails, found in its log: (text in the log, problem, fix).
VLLM_FAILURES: tuple[tuple[str, str, str], ...] = (
    (
        "Address already in use",
        "its port is taken",
        "pass --port N (or 0 for any free port), or stop the other server",
    ),
    (
        "is not a valid JSON file",
        "it cannot load this model (not a Hugging Face folder: a GGUF file?)",
        "pass a known model name (codeslm converts its GGUF), a hub id or a checkpoint folder",
    ),
    (
        "Invalid repository ID or local directory",
        "it cannot load this model (neither a hub id nor a folder with config.json)",
        "pass a known model name (codeslm converts its GGUF), a hub id or a checkpoint folder",
    ),
    (
        "does not appear to have a file named config.json",
        "it cannot load this model (no config.json)",
        "pass a known model name, a hub id or a checkpoint folder",
    ),
    (
        "does not match the installed torch version",
        "the installed torch is not the one this vLLM was built for",
        "codeslm setup --vllm (or reinstall vLLM with its own torch)",
    ),
    (
        "larger than the available KV cache memory",
        "the KV cache is too small for --max-model-len",
        "lower serve.max_model_len, or give more memory (VLLM_CPU_KVCACHE_SPACE on a CPU)",
    ),
    (
        "No available memory for the cache blocks",
        "there is no memory left for the KV cache",
        "lower serve.max_model_len or serve.gpu_memory_utilization, or free memory",
    ),
    (
        "out of memory",
        "it ran out of memory",
        "free memory, lower serve.max_model_len, or use a smaller model",
    ),
    (
        "Failed to infer device type",
        "it found no device (a GPU build without a GPU?)",
        "on a CPU: codeslm setup --vllm installs the CPU build",
    ),
)


_LOG_PREFIX = re.compile(
    r"^(\(\w+ pid=\d+\)\s+)?((INFO|WARNING|ERROR|DEBUG)\s+\d\d-\d\d [\d:.]+ \[[^\]]*\]\s*)?"
)


def log_line_summary(line: str) -> str:
    """A server log line without vLLM's ``(APIServer pid=1) INFO 12-06 16:28:44 [x.py:1]``."""
    return _LOG_PREFIX.sub("", line.strip(), count=1)


def explain_vllm_failure(log_text: str) -> tuple[str, str] | None:
    """(problem, fix) for the first known failure in a vLLM log, else None."""
    for needle, problem, fix in VLLM_FAILURES:
        if needle.lower() in log_text.lower():
            return problem, fix
    return None


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

    def _known_failure(self) -> tuple[str, str] | None:
        if self.plan.kind != VLLM:
            return None
        try:
            text = self.plan.log_path.read_bytes()[-200_000:].decode("utf-8", "replace")
        except OSError:
            return None
        return explain_vllm_failure(text.rsplit("\n==== ", 1)[-1])

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
                    known = self._known_failure()
                    if known is not None:
                        raise BackendUnavailable(
                            f"{self.plan.kind} {describe_exit(code)} while starting: {known[0]}",
                            hint=f"{known[1]}; full log: {self.plan.log_path}",
                        )
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
