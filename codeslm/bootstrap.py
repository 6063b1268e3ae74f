"""Set up a checkout from nothing: ``python3 -m codeslm.bootstrap quickstart|test|install``.

Runs with only the standard library (it is executed before anything is installed), from the
repository root. Steps, each skipped when already done so a second run is fast:

1. create ``.venv`` in the repository root;
2. build llama-cpp-python once for this CPU and keep the wheel in ``~/.cache/codeslm/wheels``
   (on x86-64 Linux the instruction sets come from ``/proc/cpuinfo`` and AMX is off, because a
   ``GGML_NATIVE`` build crashes at the first decode on some AVX-512 machines; elsewhere it is a
   native build; a ``CMAKE_ARGS`` you set yourself wins);
3. install codeslm (editable; with the ``dev`` extra for ``test``);
4. fetch and verify the default model (``codeslm models pull``);
5. ``quickstart``: a real completion and a real generation, with timings;
   ``test``: install the Debian packages of ``.ci/apt-packages.txt`` when allowed, then pytest.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
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


def say(message: str) -> None:
    print(f"[bootstrap] {message}", flush=True)


def run(cmd: list[str], **kwargs: object) -> None:
    say("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]


def venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv() -> None:
    if venv_python().exists():
        return
    say(f"creating {VENV}")
    venv.EnvBuilder(with_pip=True).create(VENV)
    run([str(venv_python()), "-m", "pip", "install", "-q", "--upgrade", "pip"])


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def llama_cmake_args() -> str:
    """CMake options for building llama.cpp on this machine (see the module docstring)."""
    if os.environ.get("CMAKE_ARGS"):
        return os.environ["CMAKE_ARGS"]
    if not (sys.platform.startswith("linux") and platform.machine() in {"x86_64", "AMD64"}):
        return ""
    flags = cpu_flags()
    if not flags:
        return ""
    opts = ["-DGGML_NATIVE=OFF"]
    opts += [f"-D{opt}={'ON' if flag in flags else 'OFF'}" for flag, opt in _CPU_FLAGS.items()]
    opts += [f"-D{opt}=OFF" for opt in _ALWAYS_OFF]
    return " ".join(opts)


def _installed_version(package: str) -> str | None:
    code = (
        "import importlib.metadata as m, sys\n"
        f"try: print(m.version({package!r}))\n"
        "except m.PackageNotFoundError: sys.exit(1)\n"
    )
    result = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_llama() -> None:
    """Install llama-cpp-python built for this CPU, reusing a cached wheel when there is one."""
    cmake_args = llama_cmake_args()
    key = hashlib.sha256(f"{LLAMA_VERSION} {cmake_args}".encode()).hexdigest()[:12]
    stamp = VENV / f".llama-{key}"
    if stamp.exists() and _installed_version("llama-cpp-python") == LLAMA_VERSION:
        return
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "codeslm" / "wheels"
    wheel_dir = cache / f"llama-cpp-python-{LLAMA_VERSION}-{key}"
    if not any(wheel_dir.glob("llama_cpp_python-*.whl")):
        say(f"building llama-cpp-python {LLAMA_VERSION} for this CPU (a few minutes, once)")
        say(f"CMAKE_ARGS={cmake_args or '(native build)'}")
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
        env = dict(os.environ, CMAKE_ARGS=cmake_args)
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        run([str(venv_python()), "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-w",
             str(tmp), f"llama-cpp-python=={LLAMA_VERSION}"], env=env)
        shutil.rmtree(wheel_dir, ignore_errors=True)
        os.replace(tmp, wheel_dir)
    run([str(venv_python()), "-m", "pip", "install", "-q", "--find-links", str(wheel_dir),
         "--only-binary", "llama-cpp-python", f"llama-cpp-python[server]=={LLAMA_VERSION}"])
    for old in VENV.glob(".llama-*"):
        old.unlink()
    stamp.touch()


def ensure_codeslm(extras: str) -> None:
    """Editable install of this checkout (re-done only when pyproject.toml changes)."""
    digest = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".codeslm-{digest[:12]}"
    if stamp.exists():
        return
    target = f"{REPO}[{extras}]" if extras else str(REPO)
    run([str(venv_python()), "-m", "pip", "install", "-q", "-e", target])
    for old in VENV.glob(".codeslm-*"):
        old.unlink()
    stamp.touch()


def codeslm(*args: str, check: bool = True) -> int:
    cmd = [str(venv_python()), "-m", "codeslm", *args]
    say("$ codeslm " + " ".join(args))
    return subprocess.run(cmd, check=check).returncode


def install(extras: str = "") -> None:
    started = time.perf_counter()
    ensure_venv()
    ensure_llama()
    ensure_codeslm(extras)
    codeslm("models", "pull")
    say(f"installed in {time.perf_counter() - started:.0f} s; activate with: . .venv/bin/activate")


_SAMPLE = '''"""A small statistics module (the quickstart's sample file)."""


def mean(values):
    """Arithmetic mean of a non-empty sequence."""
    return sum(values) / len(values)


def variance(values):
    """Population variance of a non-empty sequence."""
    m = mean(values)
    return 


def median(values):
    """Middle value of a non-empty sequence."""
    ordered = sorted(values)
    n = len(ordered)
'''


def quickstart() -> int:
    install()
    workdir = Path(tempfile.mkdtemp(prefix="codeslm-quickstart-"))
    sample = workdir / "stats.py"
    sample.write_text(_SAMPLE)
    say(f"sample file {sample}; completing line 12 after 'return ' (line 12, column 12)")
    t = time.perf_counter()
    codeslm("complete", f"{sample}:12:12")
    say(f"complete took {time.perf_counter() - t:.2f} s (including loading the model)")
    say("completing the body of median() at the end of the file (multi-line)")
    t = time.perf_counter()
    codeslm("complete", "--mode", "multi-line", f"{sample}:{_SAMPLE.count(chr(10)) + 1}:1")
    say(f"complete took {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    codeslm("gen", "--stats", "a Python function that checks whether a string is a palindrome, "
            "ignoring case and punctuation")
    say(f"gen took {time.perf_counter() - t:.2f} s")
    codeslm("doctor")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _apt_packages() -> list[str]:
    path = REPO / ".ci" / "apt-packages.txt"
    if not path.exists():
        return []
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line)
    return names


def ensure_apt_packages() -> None:
    """Install the Debian packages the tests use (real editors), when this user may."""
    wanted = _apt_packages()
    missing = [
        p for p in wanted
        if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0
    ] if shutil.which("dpkg") else []
    if not missing:
        return
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") and subprocess.run(
            ["sudo", "-n", "true"], capture_output=True
        ).returncode == 0:
            prefix = ["sudo", "-n"]
        else:
            say(f"cannot install Debian packages {missing} (not root); their tests will fail")
            return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run([*prefix, "apt-get", "update", "-qq"], env=env)
    run([*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)


def test(pytest_args: list[str]) -> int:
    install("dev")
    codeslm("models", "pull", "smollm2-135m")  # the no-FIM model of the prefix-only tests
    ensure_apt_packages()
    cmd = [str(venv_python()), "-m", "pytest", *pytest_args]
    say("$ " + " ".join(cmd))
    return subprocess.run(cmd, cwd=REPO).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"quickstart", "test", "install"}:
        print(__doc__)
        print("usage: python3 -m codeslm.bootstrap quickstart | test [pytest args] | install")
        return 2
    os.chdir(REPO)
    try:
        if argv[0] == "quickstart":
            return quickstart()
        if argv[0] == "test":
            return test(argv[1:])
        install("dev" if "--dev" in argv else "")
        return 0
    except subprocess.CalledProcessError as exc:
        say(f"failed: {' '.join(map(str, exc.cmd))} exited with {exc.returncode}")
        return exc.returncode or 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
