"""Set up a checkout from nothing: ``python3 -m codeslm.bootstrap quickstart|test|install``.

Runs with only the standard library (it is executed before anything is installed), from the
repository root. Steps, each skipped when already done so a second run is fast:

1. create ``.venv`` in the repository root;
2. build llama-cpp-python once for this CPU and keep the wheel in ``~/.cache/codeslm/wheels``
   (on x86-64 Linux the instruction sets come from ``/proc/cpuinfo`` and AMX is off, because a
   ``GGML_NATIVE`` build crashes at the first decode on some AVX-512 machines; elsewhere it is a
   native build; a ``CMAKE_ARGS`` you set yourself wins);
3. install codeslm (editable; with the ``dev`` extra for ``test``);
4. fetch and verify the default model (``codeslm models pull``; ``test`` fetches the suite's
   models instead);
5. ``quickstart``: ``codeslm doctor`` (which keeps the default or chooses the 0.5B for a small
   machine, then fetched), a real completion and a real generation, with timings;
   ``test``: install the Debian packages of ``.ci/apt-packages.txt`` when allowed, then pytest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

from codeslm.runtime import llama_build

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"


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


def llama_cmake_args() -> str:
    """CMake options for building llama.cpp on this machine (see codeslm.runtime.llama_build)."""
    return llama_build.cmake_args()


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
    build = llama_build.plan(str(venv_python()))
    stamp = VENV / f".llama-{build.key}"
    if stamp.exists() and _installed_version("llama-cpp-python") == build.version:
        return
    if not build.built():
        say(f"building llama-cpp-python {build.version} for this CPU (a few minutes, once)")
        say(f"CMAKE_ARGS={build.cmake_args or '(native build)'}")
    llama_build.build_wheel(build, run)
    run(build.install_command(extras="server"))
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


def install(extras: str = "", models: tuple[str, ...] = ()) -> None:
    """Set up the checkout and fetch ``models`` (default: the configured model)."""
    started = time.perf_counter()
    ensure_venv()
    ensure_llama()
    ensure_codeslm(extras)
    for name in models or ("",):
        codeslm("models", "pull", *([name] if name else []))
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
    # The doctor measures this machine and, where the 1.5B default is too big or too slow,
    # records the 0.5B; the pull then fetches that one (nothing when the default stays).
    codeslm("doctor")
    codeslm("models", "pull")
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
    # tune: tests/tune trains a tiny LoRA (torch==2.13.0, the CPU build). Models: the suite's
    # (the 0.5B, not the 1.5B default: tests/conftest.py) and the no-FIM model of the
    # prefix-only tests.
    install("dev,tune", models=("qwen2.5-coder-0.5b", "smollm2-135m"))
    ensure_apt_packages()
    cmd = [str(venv_python()), "-m", "pytest", *pytest_args]
    say("$ " + " ".join(cmd))
    return subprocess.run(cmd, cwd=REPO).returncode


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"quickstart", "test", "install"}:
        print(__doc__)
        print("usage: python3 -m codeslm.bootstrap quickstart | test [pytest args] | install")
        return 2
    if not (REPO / "pyproject.toml").exists():
        # Run from an installed package (site-packages): there is no checkout to set up.
        print("error: codeslm.bootstrap sets up a source checkout; for an installed codeslm "
              "run: codeslm setup", file=sys.stderr)
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
