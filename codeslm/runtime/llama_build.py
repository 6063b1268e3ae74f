"""How llama-cpp-python is built for this machine: CMake options and the pip commands.

Shared by ``python3 -m codeslm.bootstrap`` (a checkout, its own ``.venv``) and ``codeslm setup``
(an installed package, the current environment). Standard library only: the bootstrap imports
it before anything is installed.

On x86-64 Linux the instruction sets come from ``/proc/cpuinfo`` with ``GGML_NATIVE`` off and
AMX off: a native build on a CPU with AMX crashes at the first decode (SIGSEGV). Elsewhere
(ARM, macOS) the native build is right. A ``CMAKE_ARGS`` set by the user always wins.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

LLAMA_VERSION = "0.3.36"

# /proc/cpuinfo flag -> ggml CMake option.
_CPU_FLAGS = {
    "avx": "GGML_AVX",
    "avx2": "GGML_AVX2",
    "fma": "GGML_FMA",
    "f16c": "GGML_F16C",
    "bmi2": "GGML_BMI2",
    "avx512f": "GGML_AVX512",
    "avx512_vnni": "GGML_AVX512_VNNI",
    "avx512vbmi": "GGML_AVX512_VBMI",
    "avx512_bf16": "GGML_AVX512_BF16",
    "avx_vnni": "GGML_AVX_VNNI",
}
_ALWAYS_OFF = ["GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"]


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU feature flags of the first processor in ``/proc/cpuinfo`` (empty if unknown)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cmake_args(
    *,
    environ: Mapping[str, str] | None = None,
    system: str | None = None,
    machine: str | None = None,
    flags: set[str] | None = None,
) -> str:
    """CMake options for building llama.cpp here ("" means llama.cpp's native build).

    The keyword arguments exist for tests; by default they describe this machine.
    """
    environ = os.environ if environ is None else environ
    if environ.get("CMAKE_ARGS"):
        return environ["CMAKE_ARGS"]
    system = sys.platform if system is None else system
    machine = platform.machine() if machine is None else machine
    if not (system.startswith("linux") and machine in {"x86_64", "AMD64"}):
        return ""
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return ""
    opts = ["-DGGML_NATIVE=OFF"]
    opts += [f"-D{opt}={'ON' if flag in flags else 'OFF'}" for flag, opt in _CPU_FLAGS.items()]
    opts += [f"-D{opt}=OFF" for opt in _ALWAYS_OFF]
    return " ".join(opts)


def wheel_cache() -> Path:
    """Where built llama-cpp-python wheels are kept (one folder per version and options)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "codeslm" / "wheels"


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """Everything needed to build and install llama-cpp-python for this machine."""

    python: str
    version: str
    cmake_args: str
    wheel_dir: Path

    @property
    def key(self) -> str:
        return self.wheel_dir.name.rsplit("-", 1)[-1]

    def build_env(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if environ is None else environ, CMAKE_ARGS=self.cmake_args)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        return env

    def build_command(self, out_dir: Path) -> list[str]:
        """``pip wheel`` of the sdist (never pip's cache: it may hold a native build)."""
        return [
            self.python,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "--no-binary",
            "llama-cpp-python",
            "-w",
            str(out_dir),
            f"llama-cpp-python=={self.version}",
        ]

    def install_command(self, *, extras: str = "", force: bool = False) -> list[str]:
        """Install the built wheel (and only it: ``--only-binary`` refuses a fresh build)."""
        spec = f"llama-cpp-python[{extras}]" if extras else "llama-cpp-python"
        cmd = [
            self.python,
            "-m",
            "pip",
            "install",
            "-q",
            "--find-links",
            str(self.wheel_dir),
            "--only-binary",
            "llama-cpp-python",
        ]
        if force:
            # Replace a crashing build of the same version; its dependencies stay as they are.
            cmd += ["--force-reinstall", "--no-deps"]
        return [*cmd, f"{spec}=={self.version}"]

    def built(self) -> bool:
        return any(self.wheel_dir.glob("llama_cpp_python-*.whl"))


def plan(
    python: str, *, version: str = LLAMA_VERSION, args: str | None = None, cache: Path | None = None
) -> BuildPlan:
    """The build for ``python`` with this machine's options (see :func:`cmake_args`)."""
    options = cmake_args() if args is None else args
    key = hashlib.sha256(f"{version} {options}".encode()).hexdigest()[:12]
    folder = (cache or wheel_cache()) / f"llama-cpp-python-{version}-{key}"
    return BuildPlan(python, version, options, folder)


def build_wheel(build: BuildPlan, run: Callable[..., object]) -> None:
    """Build the wheel into ``build.wheel_dir`` unless it is there already.

    ``run(cmd, env=...)`` runs a command and raises on failure. The wheel is built in a
    temporary folder next to the cache and moved in whole, so an interrupted build leaves
    nothing that looks finished.
    """
    if build.built():
        return
    cache = build.wheel_dir.parent
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
    try:
        run(build.build_command(tmp), env=build.build_env())
        shutil.rmtree(build.wheel_dir, ignore_errors=True)
        os.replace(tmp, build.wheel_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
