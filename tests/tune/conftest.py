"""Fixtures of the ``codeslm tune`` tests: a tiny model made here, a sample repository, and
one real ``codeslm tune`` run on them shared by the module's tests.

They need the ``codeslm[tune]`` extra (the README's test command installs it) and the default
model (its tokenizer). Each training run is a subprocess with its own ``CODESLM_HOME``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .sample_repo import make_repo

pytest.importorskip("torch", reason="codeslm tune needs the codeslm[tune] extra")
pytest.importorskip("peft", reason="codeslm tune needs the codeslm[tune] extra")

SEED = 3  # holds out shop/discounts.py, which uses Cart and Money from other files
HELD_OUT = ["shop/discounts.py"]


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> tuple[Path, Path]:
    """(Hugging Face folder, GGUF) of a tiny random Qwen2 model with the real tokenizer."""
    from .tiny import make_tiny

    saved = os.environ.pop("CODESLM_HOME", None)  # the real caches hold the tokenizer
    try:
        return make_tiny(tmp_path_factory.mktemp("tiny"))
    finally:
        if saved is not None:
            os.environ["CODESLM_HOME"] = saved


def tune_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")}
    env.update({"CODESLM_HOME": str(home), "NO_COLOR": "1", "CODESLM_DAEMON_ENABLED": "0"})
    return env


def run_codeslm(
    args: list[str], *, cwd: Path, home: Path, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeslm", *args],
        cwd=cwd,
        env=tune_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Tuned:
    """A finished ``codeslm tune`` run: the repository, its home, the adapter folder."""

    repo: Path
    home: Path
    adapter: Path
    hf: Path
    gguf: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def tuned(tmp_path_factory: pytest.TempPathFactory, tiny_model: tuple[Path, Path]) -> Tuned:
    hf, gguf = tiny_model
    repo = make_repo(tmp_path_factory.mktemp("repo"))
    home = tmp_path_factory.mktemp("tune-home")
    done = run_codeslm(
        [
            "tune",
            ".",
            "--model",
            str(hf),
            "--gguf",
            str(gguf),
            "--minutes",
            "0",
            "--epochs",
            "2",
            "--rank",
            "4",
            "--learning-rate",
            "1e-3",
            "--seed",
            str(SEED),
            "--snapshots",
            "0.00001",  # due after the first step: the snapshot path runs too
        ],
        cwd=repo,
        home=home,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("adapter: "))
    return Tuned(repo, home, Path(line.split(": ", 1)[1]), hf, gguf, done.stdout, done.stderr)
