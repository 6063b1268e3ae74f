"""codeslm setup's parts: the build flags, the commands it runs, and the runtime crash check
(one real decode in a child process against the installed llama_cpp, and how a child killed
by a signal is classified, kept and refused)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codeslm.errors import BackendUnavailable
from codeslm.runtime import llama_build, runtime_check

AMX_CPU = (
    "processor\t: 0\n"
    "flags\t\t: fpu sse2 avx avx2 fma f16c bmi2 avx512f avx512_vnni amx_tile amx_int8\n"
)


def test_x86_linux_flags_come_from_cpuinfo_with_amx_off() -> None:
    flags = llama_build.cpu_flags(AMX_CPU)
    args = llama_build.cmake_args(environ={}, system="linux", machine="x86_64", flags=flags)
    options = dict(o.removeprefix("-D").split("=") for o in args.split())
    assert options["GGML_NATIVE"] == "OFF"
    assert options["GGML_AVX512"] == "ON" and options["GGML_AVX2"] == "ON"
    assert options["GGML_AVX512_BF16"] == "OFF"  # not in this CPU's flags
    assert {options[k] for k in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")} == {"OFF"}


def test_arm_macos_and_user_flags() -> None:
    assert llama_build.cmake_args(environ={}, system="linux", machine="aarch64", flags=set()) == ""
    assert llama_build.cmake_args(environ={}, system="darwin", machine="arm64") == ""
    user = {"CMAKE_ARGS": "-DGGML_NATIVE=ON"}
    assert llama_build.cmake_args(environ=user, system="linux", machine="x86_64") == (
        "-DGGML_NATIVE=ON"
    )


def test_build_and_install_commands(tmp_path: Path) -> None:
    build = llama_build.plan("/env/bin/python", version="0.3.36", args="-DX=1", cache=tmp_path)
    assert build.wheel_dir.parent == tmp_path and build.wheel_dir.name.startswith(
        "llama-cpp-python-0.3.36-"
    )
    assert build.build_env({})["CMAKE_ARGS"] == "-DX=1"
    cmd = build.build_command(tmp_path / "out")
    assert cmd[:4] == ["/env/bin/python", "-m", "pip", "wheel"]
    assert "--no-cache-dir" in cmd and cmd[-1] == "llama-cpp-python==0.3.36"
    forced = build.install_command(force=True)
    assert forced[-1] == "llama-cpp-python==0.3.36"
    assert {"--force-reinstall", "--no-deps", "--only-binary"} <= set(forced)
    assert str(build.wheel_dir) in forced
    other = llama_build.plan("/env/bin/python", version="0.3.36", args="-DX=2", cache=tmp_path)
    assert other.wheel_dir != build.wheel_dir  # other options, other cached wheel


def test_dry_run_prints_the_commands_it_would_run() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codeslm", "setup", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF"},
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert lines["python"] == sys.executable
    assert "-DGGML_AMX_TILE=OFF" in lines["build"]
    assert "pip wheel" in lines["build"] and "llama-cpp-python==" in lines["build"]
    assert "--force-reinstall" in lines["install"]  # llama_cpp is installed here


@pytest.mark.model
def test_the_installed_llama_cpp_survives_a_real_decode(model_path: Path) -> None:
    verdict = runtime_check.probe(model_path)
    assert verdict.ok is True, verdict.detail
    assert "generated tokens" in verdict.detail


def _fake_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    lib = tmp_path / "llama_cpp"
    (lib / "lib").mkdir(parents=True)
    (lib / "lib" / "libggml-cpu.so").write_bytes(b"x")
    monkeypatch.setattr(runtime_check, "library_dir", lambda: lib)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return lib


SEGFAULT = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"


def test_a_decode_killed_by_a_signal_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = _fake_library(tmp_path, monkeypatch)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    verdict = runtime_check.probe(model, code=SEGFAULT)
    assert verdict.ok is False and verdict.signal == "SIGSEGV"
    runtime_check.remember(model, verdict)
    assert runtime_check.cached(model) == verdict
    with pytest.raises(BackendUnavailable) as err:
        runtime_check.ensure_runtime_works(model)  # the kept verdict: no new probe
    assert "SIGSEGV" in err.value.message and "codeslm setup" in (err.value.hint or "")
    # A rebuild changes the library files: the verdict no longer applies.
    (lib / "lib" / "libggml-cpu.so").write_bytes(b"rebuilt")
    assert runtime_check.cached(model) is None


def test_a_failure_without_a_signal_decides_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_library(tmp_path, monkeypatch)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    verdict = runtime_check.probe(model, code="raise SystemExit('bad model file')")
    assert verdict.ok is None and "bad model file" in verdict.detail
    runtime_check.remember(model, verdict)
    assert runtime_check.cached(model) is None


@pytest.mark.model
def test_doctor_reports_the_real_decode(cli_env: dict[str, str], tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codeslm", "doctor", "--no-speed"],
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    decode = next(line for line in lines if line.split()[1:2] == ["decode"])
    assert decode.split()[0] == "ok" and "one real decode in a subprocess" in decode
    # It comes before anything loads the model in the doctor's own process.
    assert lines.index(decode) < next(i for i, line in enumerate(lines) if " loads " in line)


def test_setup_without_a_model_leaves_an_installed_build_alone(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update(CODESLM_HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    result = subprocess.run(
        [sys.executable, "-m", "codeslm", "setup", "--no-model"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "not checked" in result.stdout
    assert not (tmp_path / "cache" / "codeslm" / "wheels").exists()  # nothing was built


@pytest.mark.model
def test_setup_checks_the_installed_build_with_a_real_decode(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "codeslm", "setup"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "decode: ok:" in result.stdout and "nothing to build" in result.stdout
    assert not (tmp_path / "cache" / "codeslm" / "wheels").exists()
    assert (tmp_path / "cache" / "codeslm" / "runtime-checks.json").is_file()


CRASHING_LLAMA_CPP = """
import os, signal
__version__ = "0.0-segfaults"


class Llama:  # what a native build does on a CPU with AMX: dies at its first decode
    def __init__(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGSEGV)
"""


@pytest.mark.model
@pytest.mark.parametrize("daemon", [True, False], ids=["daemon", "in-process"])
def test_a_crashing_build_is_refused_with_the_fix_not_run(
    cli_env: dict[str, str], tmp_path: Path, daemon: bool
) -> None:
    """A llama_cpp that segfaults (simulated: no AMX CPU here) makes `codeslm complete` exit
    with a one-line error naming codeslm setup, not die with SIGSEGV (exit 139)."""
    fake = tmp_path / "fake" / "llama_cpp"
    (fake / "lib").mkdir(parents=True)
    (fake / "__init__.py").write_text(CRASHING_LLAMA_CPP)
    (fake / "lib" / "libggml-cpu.so").write_bytes(b"not a library")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    config = tmp_path / "config.toml"
    config.write_text(f"[daemon]\nenabled = {'true' if daemon else 'false'}\n")
    sample = tmp_path / "s.py"
    sample.write_text("def square(x):\n    return \n")
    env = {
        **cli_env,
        "PYTHONPATH": str(fake.parent),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "CODESLM_RUNTIME_DIR": str(runtime),
        "CODESLM_CONFIG": str(config),
    }
    result = subprocess.run(
        [sys.executable, "-m", "codeslm", "complete", f"{sample}:2:12"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 4, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith("error: llama.cpp crashes on this CPU") and "SIGSEGV" in lines[-2]
    assert lines[-1] == "hint: rebuild it for this CPU with: codeslm setup"
