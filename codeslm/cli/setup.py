"""``codeslm setup``: make an installed codeslm work on this machine (no checkout needed).

What ``python3 -m codeslm.bootstrap install`` does for a checkout, for the environment codeslm
is installed in: fetch and verify the configured model, run one real decode of it in a child
process, and when that crashes (a native build on a CPU with AMX) or llama-cpp-python is
missing, build llama-cpp-python with this CPU's options (:mod:`codeslm.runtime.llama_build`)
into the wheel cache, install it here, and decode again.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..config import effective_threads
from ..errors import BackendUnavailable
from ..runtime import llama_build, runtime_check
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "setup",
        parents=parents,
        help="build llama.cpp for this CPU and fetch the model",
        description="Fetch and verify the model, check that llama.cpp survives a real decode on "
        "this CPU (in a child process), and if it does not or is missing, build "
        "llama-cpp-python for this CPU (AMX off; CMAKE_ARGS from the environment wins) and "
        "install it into this Python environment. Building takes a few minutes, once.",
        epilog="examples:\n  codeslm setup             # check; rebuild only if needed\n"
        "  codeslm setup --dry-run   # print the build commands\n"
        "  codeslm setup --rebuild   # build even if the installed one works",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="build and install llama-cpp-python even if the installed one works",
    )
    p.add_argument("--no-model", action="store_true", help="do not fetch the model")
    p.add_argument(
        "--vllm",
        action="store_true",
        help="instead: install vLLM's CPU build into its own environment (~3.5 GB, a few "
        "minutes, once) and convert the model for it",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the CMake options and commands instead of running them",
    )
    p.add_argument(
        "--llama-version",
        default=llama_build.LLAMA_VERSION,
        metavar="VERSION",
        help=f"llama-cpp-python version to build (default {llama_build.LLAMA_VERSION})",
    )
    p.set_defaults(run=run)


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    common.note("$ " + shlex.join(cmd))
    subprocess.run(cmd, check=True, env=env)


def _fetch_model(name: str) -> Path:
    from ..runtime.models.resolve import resolve

    with common.byte_progress(f"fetching {name}") as progress:
        resolved = resolve(name, fetch=True, progress=progress, log=common.note)
    print(f"model: {resolved.name}: {resolved.path} (verified)")
    return resolved.path


def _decode(model: Path, threads: int, n_batch: int) -> runtime_check.Verdict:
    common.note(f"one real decode of {model.name} in a child process")
    verdict = runtime_check.check(model, threads=threads, n_batch=n_batch, fresh=True)
    print(f"decode: {'ok' if verdict.ok else 'FAIL'}: {verdict.detail}")
    return verdict


def run(args: argparse.Namespace) -> int:
    config = common.load(args).config
    if args.vllm:
        return _setup_vllm(config.model, convert=not args.no_model)
    build = llama_build.plan(sys.executable, version=args.llama_version)
    installed = runtime_check.library_dir() is not None
    if args.dry_run:
        return _print_plan(build, installed)
    threads, n_batch = effective_threads(config), config.n_batch
    model = None if args.no_model or config.backend != "llama-cpp" else _fetch_model(config.model)
    if installed and not args.rebuild:
        if model is None:
            # Nothing to decode with: do not rebuild a build that may well work.
            print(
                "llama-cpp-python is installed; without a model it was not checked "
                "(--rebuild builds it for this CPU anyway)"
            )
            return 0
        verdict = _decode(model, threads, n_batch)
        if verdict.ok:
            print("llama.cpp works on this CPU; nothing to build (--rebuild builds anyway)")
            return 0
    reason = (
        "llama-cpp-python is not installed"
        if not installed
        else "rebuilding as asked"
        if args.rebuild
        else "the installed llama-cpp-python does not survive a decode here"
    )
    common.note(
        f"{reason}: building {build.version} for this CPU "
        f"(CMAKE_ARGS={build.cmake_args or 'native'}; a few minutes, once)"
    )
    try:
        llama_build.build_wheel(build, _run)
        _run(build.install_command(force=installed))
    except subprocess.CalledProcessError as exc:
        raise BackendUnavailable(
            f"building llama-cpp-python failed ({shlex.join(map(str, exc.cmd[:4]))} ... exited "
            f"{exc.returncode})",
            hint="it needs a C/C++ compiler (gcc and g++, or clang); see the output above",
        ) from None
    print(f"installed llama-cpp-python {build.version} built for this CPU into {sys.prefix}")
    if model is None:
        return 0
    if not _decode(model, threads, n_batch).ok:
        raise BackendUnavailable(
            "llama.cpp still fails a decode on this CPU after the rebuild",
            hint="set CMAKE_ARGS (e.g. -DGGML_NATIVE=OFF -DGGML_AVX2=ON) and run "
            "codeslm setup --rebuild, or use a server backend (--backend with --url)",
        )
    return 0


def _print_plan(build: llama_build.BuildPlan, installed: bool) -> int:
    """``setup --dry-run``: the build and install commands, run nothing."""
    print(f"python: {sys.executable}")
    print(f"CMAKE_ARGS={build.cmake_args or '(native build)'}")
    print(
        "build:   CMAKE_ARGS="
        + shlex.quote(build.cmake_args)
        + " "
        + shlex.join(build.build_command(build.wheel_dir))
    )
    print("install: " + shlex.join(build.install_command(force=installed)))
    return 0


def _setup_vllm(model: str, *, convert: bool) -> int:
    """``setup --vllm``: codeslm's vLLM environment (:mod:`codeslm.runtime.vllm_env`) and the
    known model's Hugging Face form (:mod:`codeslm.runtime.models.hf_form`); both kept when
    already done."""
    from ..runtime import vllm_env
    from ..runtime.models import hf_form
    from ..runtime.models.registry import find_spec

    found = vllm_env.find()
    if found is None or found.own_env:
        # Idempotent: instant when the environment is complete, else (re)installed.
        common.note(f"vLLM's CPU build in {vllm_env.venv_dir()} (the first time: a few minutes)")
        found = vllm_env.install()
    print(f"vLLM: {found.dist} {found.version} ({found.python})")
    if convert and find_spec(model) is not None:
        folder = hf_form.convert(model, found.python, log=common.note)
        print(f"model for vLLM: {folder}")
    return 0
