"""Tag extraction per language from the shipped queries (real tree-sitter grammars)."""

from __future__ import annotations

import pytest

from codeslm.context import languages, tags

SOURCES = {
    "python": (
        "import os\nLIMIT = 3\n\nclass Box(Base):\n    def open(self, key):\n"
        "        return helper(key)\n\n@cached\ndef helper(k):\n    return os.path.join(k)\n",
        {("LIMIT", "constant", ""), ("Box", "class", ""), ("open", "method", "Box"),
         ("helper", "function", "")},
        {"helper", "Base", "join", "cached"},
    ),
    "javascript": (
        "import { x } from './x';\nexport function run(a) { return x(a); }\n"
        "class Shape { area() { return compute(this); } }\nconst twice = (n) => n * 2;\n",
        {("run", "function", ""), ("Shape", "class", ""), ("area", "method", "Shape"),
         ("twice", "function", "")},
        {"x", "compute"},
    ),
    "typescript": (
        "interface Point { x: number }\ntype Id = string;\n"
        "export class Store { get(id: Id): Point { return load(id); } }\n"
        "enum Color { Red }\nfunction load(id: Id): Point { return { x: 1 }; }\n",
        {("Point", "interface", ""), ("Id", "type", ""), ("Store", "class", ""),
         ("get", "method", "Store"), ("Color", "enum", ""), ("load", "function", "")},
        {"load", "Point", "Id"},
    ),
    "tsx": (
        "export function App(props: Props) { return <div>{render(props)}</div>; }\n",
        {("App", "function", "")},
        {"render", "Props"},
    ),
    "go": (
        "package main\n\ntype Server struct{ Port int }\n\n"
        "func (s *Server) Start() error { return listen(s.Port) }\n\n"
        "func listen(p int) error { return nil }\n\nconst Max = 3\n",
        {("Server", "type", ""), ("Start", "method", ""), ("listen", "function", ""),
         ("Max", "constant", "")},
        {"listen", "Server"},
    ),
    "rust": (
        "pub struct Point { x: i32 }\nimpl Point { fn norm(&self) -> i32 { square(self.x) } }\n"
        "fn square(v: i32) -> i32 { v * v }\ntrait Shape { fn area(&self) -> f64; }\n"
        "const LIMIT: u32 = 3;\n",
        {("Point", "class", ""), ("norm", "method", "Point"), ("square", "function", ""),
         ("Shape", "interface", ""), ("LIMIT", "constant", "")},
        {"square", "Point"},
    ),
    "java": (
        "class Account extends Base {\n  private int balance;\n"
        "  Account() { }\n  int deposit(int v) { return Util.add(balance, v); }\n}\n"
        "interface Ledger { void post(Account a); }\n",
        {("Account", "class", ""), ("balance", "field", "Account"),
         ("deposit", "method", "Account"), ("Ledger", "interface", ""),
         ("post", "method", "Ledger")},
        {"add", "Base"},
    ),
    "c": (
        "#define MAX 3\ntypedef struct point { int x; } point_t;\n"
        "static int *twice(int v) { return helper(v); }\nint helper(int v);\n",
        {("MAX", "macro", ""), ("point", "class", ""), ("point_t", "type", ""),
         ("twice", "function", ""), ("helper", "function", "")},
        {"helper"},
    ),
    "cpp": (
        "namespace geo {\nclass Shape { public: virtual double area() const; };\n}\n"
        "double geo::Shape::area() const { return compute(1); }\n",
        {("geo", "module", ""), ("Shape", "class", "geo"), ("area", "method", "geo.Shape")},
        {"compute"},
    ),
}


@pytest.mark.parametrize("language", languages.supported())
def test_every_language_has_a_grammar_and_a_compiling_query(language: str) -> None:
    assert languages.grammar(language) is not None
    assert languages.tags_query(language) is not None


@pytest.mark.parametrize("language", sorted(SOURCES))
def test_definitions_and_references(language: str) -> None:
    source, expected_defs, expected_refs = SOURCES[language]
    found = tags.extract(source.encode(), language)
    assert found.parsed
    defs = {(s.name, s.kind, s.scope) for s in found.symbols}
    missing = expected_defs - defs
    assert not missing, f"{language}: missing {missing}; found {defs}"
    assert expected_refs <= set(found.references), found.references


def test_definition_names_are_not_counted_as_references() -> None:
    found = tags.extract(b"class A:\n    pass\n\nx: A = A()\n", "python")
    assert found.references.get("A") == 2  # the annotation and the call, not the definition


def test_signatures_are_the_head_of_a_definition() -> None:
    source = b"def long(\n    a,\n    b,\n) -> int:\n    return a + b\n"
    (symbol,) = tags.extract(source, "python").symbols
    assert symbol.signature == "def long(\n    a,\n    b,\n) -> int:"
    assert (symbol.start_line, symbol.end_line) == (0, 4)


def test_c_function_ranges_cover_the_whole_definition() -> None:
    source = b"int add(int a, int b)\n{\n    return a + b;\n}\n"
    (symbol,) = tags.extract(source, "c").symbols
    assert (symbol.start_line, symbol.end_line) == (0, 3)
    assert symbol.signature == "int add(int a, int b)"


@pytest.mark.parametrize("language", [None, "cobol", "markdown"])
def test_unknown_languages_give_empty_tags_not_errors(language: str | None) -> None:
    found = tags.extract(b"whatever ( { [", language)
    assert not found.parsed and not found.symbols and not found.references


def test_broken_code_still_yields_the_definitions_that_parse() -> None:
    found = tags.extract(b"def ok(x):\n    return x\n\ndef broken(:\n    pass\n", "python")
    assert "ok" in {s.name for s in found.symbols}
