"""llama.cpp's Python converters, from the source vendored in the pinned llama-cpp-python sdist.

``convert_lora_to_gguf.py`` (PEFT adapter -> GGUF LoRA) and ``convert_hf_to_gguf.py`` (a
Hugging Face model -> GGUF) live in ``vendor/llama.cpp`` of the llama-cpp-python source
distribution, with the ``conversion`` package they import and the ``gguf-py`` they were
written against. :func:`converters` extracts exactly those into
``<wheel cache>/llama-cpp-python-<version>-src/`` (once, renamed into place when complete),
taking the sdist from pip's download (``pip download --no-binary :all:``); the converters run
with ``gguf-py`` first on ``PYTHONPATH`` so the installed ``gguf`` package's version does not
matter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ..errors import BackendUnavailable
from ..runtime import llama_build

_PREFIX = "vendor/llama.cpp/"
_WANTED = ("convert_lora_to_gguf.py", "convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def source_dir(version: str = llama_build.LLAMA_VERSION) -> Path:
    return llama_build.wheel_cache() / f"llama-cpp-python-{version}-src"


def converters(version: str = llama_build.LLAMA_VERSION) -> Path:
    """The folder holding llama.cpp's converters (fetched and extracted on first use).

    BackendUnavailable with pip's last line when the sdist cannot be had."""
    target = source_dir(version)
    if (target / "convert_lora_to_gguf.py").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".src-", dir=target.parent))
    try:
        sdist = _download(version, staging)
        _extract(sdist, staging / "src")
        if not (staging / "src" / "convert_lora_to_gguf.py").is_file():
            raise BackendUnavailable(f"{sdist.name} has no vendor/llama.cpp converters")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging / "src", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download(version: str, into: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-binary",
        ":all:",
        "--no-deps",
        "-q",
        "-d",
        str(into),
        f"llama-cpp-python=={version}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(into.glob("llama_cpp_python-*.tar.gz"))
    if out.returncode != 0 or not found:
        last = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        raise BackendUnavailable(
            f"cannot download the llama-cpp-python {version} source: {last[:200]}",
            hint="the GGUF LoRA needs llama.cpp's converter from that source (PyPI access)",
        )
    return found[0]


def _extract(sdist: Path, out: Path) -> None:
    """Only the converters, their package and gguf-py; no path may leave ``out``."""
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = member.name.split("/", 1)[1] if "/" in member.name else ""
            if not name.startswith(_PREFIX):
                continue
            rel = name[len(_PREFIX) :]
            if not rel.startswith(_WANTED) or not (member.isfile() or member.isdir()):
                continue
            dest = (out / rel).resolve()
            if not dest.is_relative_to(out.resolve()):
                continue
            if member.isdir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            if source is not None:
                with source, dest.open("wb") as fh:
                    shutil.copyfileobj(source, fh)


def run_converter(script: str, args: list[str], *, log_file: Path) -> None:
    """Run one converter with this Python; BackendUnavailable with its last line on failure."""
    folder = converters()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(folder / "gguf-py"), str(folder)]),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "NO_LOCAL_GGUF": "",
    }
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as log:
        code = subprocess.run(
            [sys.executable, str(folder / script), *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        ).returncode
    if code != 0:
        lines = [ln for ln in log_file.read_text(errors="replace").splitlines() if ln.strip()]
        raise BackendUnavailable(
            f"llama.cpp's {script} failed: {(lines or [f'exit code {code}'])[-1][:300]}",
            hint=f"full log: {log_file}",
        )
