"""Table-driven post-processing tests: tests/golden/completion/<language>.toml.

Each case is a file with ``<|>`` at the cursor, the raw model output there, and the
completion expected on screen. The mode decision is checked too when a case says
``mode = "auto"``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from codeslm.completion import Hole, decide_mode, postprocess
from codeslm.types import CompletionMode

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "completion"
CURSOR = "<|>"


def _cases() -> list[pytest.param]:
    params = []
    for path in sorted(GOLDEN.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for case in data["case"]:
            language = case.get("language", path.stem)
            params.append(pytest.param(language, case, id=f"{path.stem}: {case['name']}"))
    return params


CASES = _cases()


def test_every_required_language_has_cases() -> None:
    languages = {param.values[0] for param in CASES}
    assert {"python", "javascript", "typescript", "go", "rust"} <= languages


@pytest.mark.parametrize(("language", "case"), CASES)
def test_golden(language: str, case: dict[str, str]) -> None:
    code = case["code"]
    assert code.count(CURSOR) == 1, "a case needs exactly one cursor marker"
    prefix, suffix = code.split(CURSOR)
    mode = CompletionMode(case["mode"])
    if mode is CompletionMode.AUTO:
        mode = decide_mode(Hole(prefix, suffix, language))
        assert mode is CompletionMode(case["expected_mode"])
    got = postprocess(case["raw"], prefix=prefix, suffix=suffix, mode=mode, language=language)
    assert got == case["expected"]
