"""The "add type hints" action beyond its golden case: only the signature is applied, the
imports it needs come along, and an answer that changes more than types is refused."""

from __future__ import annotations

import pytest

from codeslm.actions import (
    RefactorRequest,
    UnusableAnswer,
    apply_answer,
    generate_answer,
    plan_refactor,
)
from codeslm.backends.fake import FakeBackend
from codeslm.errors import InputError
from codeslm.textedit import apply_edits
from codeslm.types import Document, Position, Range

SOURCE = '''"""Geometry helpers."""
import math


def scale(points, factor=2, *, keep=None):
    # Multiply every point.
    return [p * factor for p in points]


async def fetch(url,
                timeout=10):
    return url
'''


def _plan(line: int, text: str = SOURCE, language: str = "python"):  # type: ignore[no-untyped-def]
    request = RefactorRequest(
        "type_hints",
        Document(text, "/p/geo.py", language),
        Range(Position(line, 4), Position(line, 4)),
    )
    return plan_refactor(request)


def _apply(line: int, answer: str, text: str = SOURCE) -> str:
    (change,) = apply_answer(_plan(line, text), answer)
    return apply_edits(text, list(change.edits))


def test_only_the_signature_is_applied_with_the_imports_it_uses() -> None:
    answer = (
        "```python\nimport math\nfrom collections.abc import Sequence\n"
        "from typing import Any\n\n\n"
        "def scale(points: Sequence[float], factor: float = 2, *, keep: Any = None"
        ") -> list[float]:\n    return [x * 3 for x in points]\n```"
    )
    out = _apply(5, answer)
    assert out == SOURCE.replace(
        "def scale(points, factor=2, *, keep=None):",
        "def scale(points: Sequence[float], factor: float = 2, *, keep: Any = None"
        ") -> list[float]:",
    ).replace(
        "import math\n",
        "import math\nfrom collections.abc import Sequence\nfrom typing import Any\n",
    )
    assert "# Multiply every point." in out and "p * factor" in out  # the body is untouched


def test_a_multi_line_async_signature_keeps_its_layout() -> None:
    answer = (
        "```python\nasync def fetch(\n    url: str,\n    timeout: float = 10,\n) -> str:\n"
        "    return url\n```"
    )
    out = _apply(10, answer)
    assert out == SOURCE.replace(
        "async def fetch(url,\n                timeout=10):",
        "async def fetch(url: str,\n                timeout: float = 10) -> str:",
    )


def test_imports_go_after_the_module_docstring_when_there_are_none() -> None:
    text = '"""Doc."""\n\n\ndef first(items):\n    return items[0]\n'
    answer = (
        "```python\nfrom collections.abc import Sequence\n\n\n"
        "def first(items: Sequence[int]) -> int:\n    return items[0]\n```"
    )
    assert _apply(3, answer, text) == (
        '"""Doc."""\nfrom collections.abc import Sequence\n\n\n'
        "def first(items: Sequence[int]) -> int:\n    return items[0]\n"
    )


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        # A renamed parameter gets no annotation; the others do.
        (
            "def scale(pts: list[float], factor: float = 2, *, keep: None = None) -> list[float]:",
            "def scale(points, factor: float = 2, *, keep: None = None) -> list[float]:",
        ),
        # A dropped default, a dropped or an added parameter change nothing of the original's.
        (
            "def scale(points: list[float], factor: float, *, keep: None = None, x: int = 0):",
            "def scale(points: list[float], factor: float = 2, *, keep: None = None):",
        ),
        (
            "def scale(self, points: list[float]) -> None:",
            "def scale(points: list[float], factor=2, *, keep=None) -> None:",
        ),
    ],
)
def test_only_annotations_of_the_original_parameters_are_taken(
    signature: str, expected: str
) -> None:
    out = _apply(5, f"```python\n{signature}\n    return points\n```")
    assert out == SOURCE.replace("def scale(points, factor=2, *, keep=None):", expected)


def test_existing_annotations_self_and_odd_defaults_are_kept() -> None:
    text = 'class A:\n    def f(self, a: str, b = (1), c="é"):\n        return a\n'
    answer = "```python\ndef f(self: A, a: int, b: int = 1, c: str = 'x') -> str:\n    pass\n```"
    assert _apply(1, answer, text) == (
        'class A:\n    def f(self, a: str, b: int = (1), c: str = "é") -> str:\n        return a\n'
    )


def test_unusable_answers() -> None:
    with pytest.raises(UnusableAnswer, match="no change"):
        _apply(5, "```python\ndef scale(points, factor=2, *, keep=None):\n    return 1\n```")
    with pytest.raises(UnusableAnswer, match="no function scale"):
        _apply(5, "```python\ndef other(a: int) -> int:\n    return a\n```")


def test_not_offered_outside_python_or_a_function() -> None:
    with pytest.raises(InputError, match="Python only"):
        _plan(0, "func F() {}\n", language="go")
    with pytest.raises(InputError, match="no function at the cursor"):
        _plan(1)


async def test_generation_stops_once_the_signature_is_complete() -> None:
    reply = (
        "```python\ndef scale(points: list[float], factor: float = 2, *, keep: None = None"
        ") -> list[float]:\n" + "    x = 1\n" * 40 + "```"
    )
    backend = FakeBackend(reply)
    answer = await generate_answer(backend, _plan(5))
    assert "-> list[float]:" in answer and "x = 1" not in answer
    assert backend.cancelled == 1
