"""What this machine offers a vLLM server: its GPU, the cores to bind, free memory for the KV
cache. Read from the OS at plan time; nothing here starts a process other than ``nvidia-smi``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ...errors import BackendUnavailable


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
