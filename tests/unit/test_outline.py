"""Finding the definition around a cursor with tree-sitter, in several languages."""

from __future__ import annotations

from codeslm.outline import definitions, enclosing_definition, has_grammar

PY = '''import os


@cache
def outer(a):
    """Old doc."""
    def inner():
        return 1
    return a


class Shape:
    def area(self): return 0
'''


def _name_at(text: str, language: str, needle: str, delta: int = 0) -> str | None:
    d = enclosing_definition(text, language, text.index(needle) + delta)
    return None if d is None else d.name


def test_python_innermost_definition_and_docstring() -> None:
    assert _name_at(PY, "python", "return a") == "outer"
    assert _name_at(PY, "python", "return 1") == "inner"
    assert _name_at(PY, "python", "@cache") == "outer"  # decorator line
    assert _name_at(PY, "python", "    def inner", 0) == "inner"  # indentation before def
    assert _name_at(PY, "python", "import os") is None
    d = enclosing_definition(PY, "python", PY.index("return a"))
    assert d is not None and d.docstring is not None
    assert PY[d.docstring[0]:d.docstring[1]] == '"""Old doc."""'
    assert PY[d.start:].startswith("@cache")
    assert d.body_indent == "    "
    area = enclosing_definition(PY, "python", PY.index("return 0"))
    assert area is not None and area.name == "area" and area.body_start is None


def test_other_languages() -> None:
    go = "package m\n\n// Add adds.\nfunc Add(a, b int) int {\n\treturn a + b\n}\n"
    assert _name_at(go, "go", "return") == "Add"
    ts = "export function greet(name: string): string {\n  return `hi ${name}`;\n}\n"
    d = enclosing_definition(ts, "typescript", ts.index("return"))
    assert d is not None and d.name == "greet" and d.start == 0  # export included
    rust = "fn double(x: i32) -> i32 {\n    x * 2\n}\n"
    assert _name_at(rust, "rust", "x * 2") == "double"
    java = "class A {\n  int twice(int x) {\n    return 2 * x;\n  }\n}\n"
    assert _name_at(java, "java", "return") == "twice"
    c = "int square(int x) {\n  return x * x;\n}\n"
    assert _name_at(c, "c", "return") == "square"


def test_unknown_language_is_none_not_an_error() -> None:
    assert enclosing_definition("def f(): pass", "cobol", 3) is None
    assert enclosing_definition("def f(): pass", None, 3) is None
    assert not has_grammar("cobol")
    assert has_grammar("python")


def test_definitions_in_order_with_non_ascii() -> None:
    text = 'def été():\n    """Ça va 😀."""\n\ndef b():\n    pass\n'
    found = definitions(text, "python")
    assert [d.name for d in found] == ["été", "b"]
    first = found[0]
    assert first.docstring is not None
    assert text[first.docstring[0]:first.docstring[1]] == '"""Ça va 😀."""'
