"""Refactor planning and applying: pure functions, answers given as the model would write them.

The model-driven path is proven end to end with the real model in tests/lsp/test_server_model.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.actions import (
    Problem,
    RefactorRequest,
    UnusableAnswer,
    apply_answer,
    generate_answer,
    plan_refactor,
)
from codeslm.actions.testfiles import conventional_test_file
from codeslm.backends.fake import FakeBackend
from codeslm.errors import InputError
from codeslm.textedit import apply_edits
from codeslm.types import Document, Position, Range

SOURCE = '''import math


def area(r):
    return math.pi * r * r


class Shape:
    def perimeter(self, n, side):
        """Old doc."""
        return n * side
'''


def _request(kind: str, start: tuple[int, int], end: tuple[int, int] | None = None,
             *, text: str = SOURCE, path: str = "/proj/geo.py", language: str = "python",
             **extra: object) -> RefactorRequest:
    end = end or start
    return RefactorRequest(kind, Document(text, path, language),
                           Range(Position(*start), Position(*end)), root="/proj",
                           **extra)  # type: ignore[arg-type]


def _apply(request: RefactorRequest, answer: str) -> str:
    plan = plan_refactor(request)
    (change,) = apply_answer(plan, answer)
    return apply_edits(request.document.text, list(change.edits))


def test_docstring_is_inserted_and_code_copy_is_ignored() -> None:
    # The model "helpfully" changed the body too: only the docstring is taken.
    answer = ('```python\ndef area(r):\n    """Area of a circle.\n\n    Args:\n'
              '        r: the radius.\n    """\n    return 3.14 * r ** 2\n```')
    out = _apply(_request("docstring", (4, 8)), answer)
    assert '    """Area of a circle.\n\n    Args:\n        r: the radius.\n    """\n' in out
    assert "return math.pi * r * r" in out and "3.14" not in out


def test_docstring_replaces_the_existing_one_in_a_method() -> None:
    answer = '```python\ndef perimeter(self, n, side):\n    """Perimeter of a polygon."""\n```'
    out = _apply(_request("docstring", (10, 12)), answer)
    assert '        """Perimeter of a polygon."""\n        return n * side' in out
    assert "Old doc" not in out


def test_docstring_for_go_goes_above_the_function() -> None:
    go = "package m\n\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
    answer = ("```go\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n"
              "\treturn a + b\n}\n```")
    out = _apply(_request("docstring", (3, 1), text=go, path="/proj/m.go",
                          language="go"), answer)
    assert out == ("package m\n\n// Add returns the sum of a and b.\nfunc Add(a, b int) int {\n"
                   "\treturn a + b\n}\n")


def test_docstring_answer_without_docstring_is_unusable() -> None:
    plan = plan_refactor(_request("docstring", (4, 8)))
    with pytest.raises(UnusableAnswer):
        apply_answer(plan, "```python\ndef area(r):\n    return 1\n```")


def test_no_function_at_cursor() -> None:
    with pytest.raises(InputError, match="no function or class"):
        plan_refactor(_request("docstring", (0, 0)))


def test_explain_inserts_a_wrapped_comment_above_the_selection() -> None:
    prose = ("It computes the area of a circle of radius r. " * 4).strip()
    out = _apply(_request("explain", (4, 0), (5, 0)), prose)
    lines = out.splitlines()
    i = lines.index("    return math.pi * r * r")
    comment = [ln for ln in lines[:i] if ln.startswith("    # ")]
    assert len(comment) >= 2 and all(len(ln) <= 88 for ln in comment)


def test_edit_selection_gives_a_minimal_edit_reindented() -> None:
    plan = plan_refactor(_request("edit", (4, 0), (5, 0), instruction="use r**2"))
    assert "    return" not in plan.messages[-1].content  # sent dedented
    (change,) = apply_answer(plan, "```python\nreturn math.pi * r ** 2\n```")
    (edit,) = change.edits
    assert edit.range.start.line == edit.range.end.line == 4
    assert apply_edits(SOURCE, [edit]).count("return math.pi * r ** 2") == 1


def test_edit_needs_an_instruction() -> None:
    with pytest.raises(InputError, match="instruction"):
        plan_refactor(_request("edit", (4, 0), (5, 0)))


def test_fix_targets_the_function_with_the_problem() -> None:
    problem = Problem("undefined name 'sidee'", Range(Position(10, 19), Position(10, 24)),
                      "pyflakes", "F821")
    plan = plan_refactor(_request("fix", (10, 19), problem=problem))
    assert plan.name == "perimeter"
    assert "pyflakes: undefined name 'sidee' [F821] (line 11)" in plan.messages[-1].content
    out = _apply(_request("fix", (10, 19), problem=problem),
                 '```python\ndef perimeter(self, n, side):\n    """Old doc."""\n'
                 '    return n * side * 1\n```')
    assert "        return n * side * 1\n" in out


def test_same_answer_is_no_change() -> None:
    plan = plan_refactor(_request("edit", (4, 0), (5, 0), instruction="nothing"))
    with pytest.raises(UnusableAnswer, match="no change"):
        apply_answer(plan, "```python\nreturn math.pi * r * r\n```")


def test_tests_go_to_the_conventional_file(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    doc = Document(SOURCE, str(tmp_path / "src" / "pkg" / "geo.py"), "python")
    path, framework, hint = conventional_test_file(doc, str(tmp_path), "area")
    assert path == str(tmp_path / "tests" / "test_geo.py")
    assert framework == "pytest" and "from pkg.geo import area" in hint
    js = Document("", str(tmp_path / "util.ts"), "typescript")
    assert conventional_test_file(js, str(tmp_path), "f")[0].endswith("util.test.ts")
    go = Document("", str(tmp_path / "m.go"), "go")
    assert conventional_test_file(go, str(tmp_path), "F")[0].endswith("m_test.go")


def test_tests_create_or_append(tmp_path: Path) -> None:
    src = tmp_path / "geo.py"
    request = RefactorRequest("tests", Document(SOURCE, str(src), "python"),
                              Range(Position(4, 5), Position(4, 5)), root=str(tmp_path))
    answer = ("```python\nimport math\nfrom geo import area\n\n"
              "def test_area():\n    assert area(1) > 3\n```")
    plan = plan_refactor(request, read_text=lambda p: None)
    (created,) = apply_answer(plan, answer, read_text=lambda p: None)
    assert created.create and created.path == str(tmp_path / "test_geo.py")
    existing = "import math\n\n\ndef test_old():\n    pass\n"
    (appended,) = apply_answer(plan, answer, read_text=lambda p: existing)
    out = apply_edits(existing, list(appended.edits))
    assert out.startswith(existing) and out.count("import math") == 1
    assert "def test_area" in out


async def test_generate_answer_stops_once_the_docstring_is_complete() -> None:
    reply = ('```python\ndef area(r):\n    """Area."""\n' + "    x = 1\n" * 50 + "```")
    backend = FakeBackend(reply)
    plan = plan_refactor(_request("docstring", (4, 8)))
    seen: list[int] = []
    answer = await generate_answer(backend, plan, on_progress=seen.append)
    assert '"""Area."""' in answer and "x = 1" not in answer
    assert backend.cancelled == 1 and seen  # the stream was closed early


def test_tests_get_the_missing_import_and_must_be_tests(tmp_path: Path) -> None:
    src = tmp_path / "geo.py"
    request = RefactorRequest("tests", Document(SOURCE, str(src), "python"),
                              Range(Position(4, 5), Position(4, 5)), root=str(tmp_path))
    plan = plan_refactor(request, read_text=lambda p: None)
    (created,) = apply_answer(plan, "```python\nimport pytest\n\ndef test_area():\n"
                                    "    assert area(1) > 3\n```", read_text=lambda p: None)
    text = apply_edits("", list(created.edits))
    assert text.startswith("import pytest\nfrom geo import area\n")
    with pytest.raises(UnusableAnswer, match="no tests"):
        apply_answer(plan, "```python\ndef area(r):\n    return 1\n```", read_text=lambda p: None)
