"""``codeslm tune --teacher MODEL``: a teacher run through the real llama.cpp backend completes
training holes, and its answers join the real code as extra targets with the same prompts."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.tune import examples as ex
from codeslm.tune import store

from .conftest import run_codeslm
from .sample_repo import make_repo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_teacher_completions_are_extra_targets(
    tiny_model: tuple[Path, Path], tmp_path: Path
) -> None:
    hf, gguf = tiny_model
    repo = make_repo(tmp_path / "repo")
    home = tmp_path / "home"
    done = run_codeslm(
        [
            "tune",
            ".",
            "--model",
            str(hf),
            "--gguf",
            str(gguf),
            "--teacher",
            str(gguf),
            "--teacher-holes",
            "4",
            "--minutes",
            "0",
            "--epochs",
            "1",
            "--rank",
            "4",
        ],
        cwd=repo,
        home=home,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "teacher" in done.stderr
    adapter = Path(
        next(ln for ln in done.stdout.splitlines() if ln.startswith("adapter: ")).split(": ", 1)[1]
    )
    info = store.AdapterInfo.read(adapter)
    assert info.teacher == str(gguf)
    made = ex.load(adapter.with_name(adapter.name + ".work") / "examples.jsonl")
    taught = [e for e in made if e.source == "teacher"]
    code = {(e.path, e.line, e.column): e for e in made if e.source == "code"}
    assert info.teacher_examples == len(taught) and 0 < len(taught) <= 4
    for e in taught:
        real = code[(e.path, e.line, e.column)]
        assert e.prompt == real.prompt and e.target != real.target and e.target.strip()
        assert "\n" not in e.target
