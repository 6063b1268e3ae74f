"""One golden test per built-in action: the prompt it sends and the change it makes from a
scripted model answer (the fake backend streams it), end to end through plan, generate and
apply. ``UPDATE_GOLDEN=1`` rewrites tests/golden/actions/*.txt for review.

The same actions run on the real model in test_cli_model.py and tests/lsp/test_lsp_server_model.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from codeslm.actions import Problem, RefactorRequest, apply_answer, generate_answer, plan_refactor
from codeslm.backends.fake import FakeBackend
from codeslm.fileio import unified_diff
from codeslm.textedit import apply_edits
from codeslm.types import Document, Position, Range
from tests.golden import check_golden

GEO = '''import math


def area(r):
    return math.pi * r * r


class Shape:
    def perimeter(self, n, side=1.0):
        """Old doc."""
        total = n * sidee  # a typo the linter reports
        return total
'''


@dataclass
class Case:
    action: str
    start: tuple[int, int]
    end: tuple[int, int] | None
    answer: str
    instruction: str = ""
    problem: Problem | None = None
    extra: dict[str, str] = field(default_factory=dict)


CASES = {
    "docstring": Case(
        "docstring",
        (4, 8),
        None,
        '```python\ndef area(r):\n    """Area of a circle of radius r.\n\n'
        '    Args:\n        r: the radius.\n    """\n    return 3.14 * r * r\n```',
    ),
    "tests": Case(
        "tests",
        (3, 5),
        None,
        "```python\nimport math\n\n\ndef test_area_of_unit_circle():\n"
        "    assert area(1) == pytest.approx(math.pi)\n```",
    ),
    "explain": Case(
        "explain",
        (10, 0),
        (12, 0),
        "It multiplies the number of sides by the side length to get the perimeter "
        "of a regular polygon and returns it.",
    ),
    "edit": Case(
        "edit",
        (4, 0),
        (5, 0),
        "```python\nreturn math.pi * r ** 2\n```",
        instruction="use the power operator",
    ),
    "fix": Case(
        "fix",
        (10, 20),
        (10, 25),
        '```python\ndef perimeter(self, n, side=1.0):\n    """Old doc."""\n'
        "    total = n * side  # a typo the linter reports\n    return total\n```",
        problem=Problem(
            "undefined name 'sidee'", Range(Position(10, 20), Position(10, 25)), "pyflakes", "F821"
        ),
    ),
    "type_hints": Case(
        "type_hints",
        (8, 10),
        None,
        "```python\nfrom typing import Final\n\n\n"
        "def perimeter(self, n: int, side: float = 1.0) -> float:\n"
        '    """Perimeter."""\n    return n * side\n```',
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
async def test_golden(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    path = tmp_path / "geo.py"
    path.write_text(GEO)
    end = case.end or case.start
    request = RefactorRequest(
        case.action,
        Document(GEO, str(path), "python"),
        Range(Position(*case.start), Position(*end)),
        case.instruction,
        case.problem,
        str(tmp_path),
    )
    plan = plan_refactor(request, read_text=lambda p: None)
    backend = FakeBackend(case.answer)
    answer = await generate_answer(backend, plan)
    changes = apply_answer(plan, answer, read_text=lambda p: None)
    shown = [f"# title: {plan.title}", f"# max_tokens: {backend.requests[0].max_tokens}"]
    for message in plan.messages:
        shown += [f"### {message.role}", message.content]
    shown.append("### change")
    for change in changes:
        relative = Path(change.path).relative_to(tmp_path)
        new = apply_edits(change.base_text, list(change.edits))
        shown.append(unified_diff(None if change.create else change.base_text, new, relative))
    check_golden(f"actions/{name}.txt", "\n".join(shown).replace(str(tmp_path), "<root>"))
