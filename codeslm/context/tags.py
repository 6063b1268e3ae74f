"""Tag extraction: source bytes + language -> definitions and references (pure, no IO).

Definitions carry a name, a kind (``class``, ``function``, ``method``, ``constant``...), their
line range, a one-to-few-line signature and the dotted name of the enclosing scope. References
are identifier counts from the ``@reference.*`` captures of the language's tag query. An
unknown language yields empty tags, never an error.
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import languages

log = logging.getLogger(__name__)

MAX_SIGNATURE_LINES = 6
MAX_SIGNATURE_CHARS = 400
_WEAK_KINDS = frozenset({"constant", "variable", "field"})
_CLASS_LIKE = frozenset({
    "class_definition", "class_declaration", "abstract_class_declaration", "class_specifier",
    "struct_specifier", "interface_declaration", "impl_item", "trait_item", "record_declaration",
    "enum_declaration",
})


@dataclass(frozen=True, slots=True)
class Symbol:
    """One definition. Lines are 0-based and ``end_line`` is inclusive."""

    name: str
    kind: str
    start_line: int
    end_line: int
    signature: str
    scope: str = ""

    @property
    def qualified(self) -> str:
        """``Scope.name`` (or just ``name`` at the top level)."""
        return f"{self.scope}.{self.name}" if self.scope else self.name


@dataclass(frozen=True, slots=True)
class FileTags:
    """Everything the index keeps about one file's content."""

    language: str | None
    symbols: tuple[Symbol, ...] = ()
    references: dict[str, int] = field(default_factory=dict)
    parsed: bool = False  # False for plain text (no grammar)


def parse(source: bytes, language: str | None, old_tree: Any = None) -> Any | None:
    """A tree-sitter tree of ``source`` (incremental when ``old_tree`` was edited), or None."""
    lang = languages.grammar(language) if language else None
    if lang is None:
        return None
    import tree_sitter

    parser = tree_sitter.Parser(lang)  # type: ignore[arg-type]
    return parser.parse(source, old_tree) if old_tree is not None else parser.parse(source)


def extract(source: bytes, language: str | None, *, tree: Any = None) -> FileTags:
    """The tags of ``source``. ``tree`` may be a tree-sitter tree of exactly these bytes."""
    spec = languages.spec_for(language)
    query = languages.tags_query(language) if spec is not None and language else None
    if spec is None or query is None:
        return FileTags(language)
    if tree is None:
        tree = parse(source, language)
    if tree is None:
        return FileTags(language)
    symbols, refs = extract_range(spec, query, tree, source, None)
    return FileTags(language, tuple(symbols), dict(refs), parsed=True)


def extract_range(spec: languages.LanguageSpec, query: Any, tree: Any, source: bytes,
                  byte_range: tuple[int, int] | None) -> tuple[list[Symbol], Counter[str]]:
    """Symbols (sorted) and reference counts of the whole tree or of one byte range."""
    if byte_range is None:
        return extract_spans(spec, query, tree, source, [(0, len(source) + 1)])[0]
    return extract_spans(spec, query, tree, source, [byte_range], narrow=True)[0]


class _Span:
    __slots__ = ("def_starts", "refs", "seen", "symbols")

    def __init__(self) -> None:
        self.symbols: list[Symbol] = []
        self.seen: dict[tuple[str, int], int] = {}  # (name, line) -> index in symbols
        self.def_starts: set[int] = set()
        self.refs: list[Any] = []


def extract_spans(spec: languages.LanguageSpec, query: Any, tree: Any, source: bytes,
                  spans: list[tuple[int, int]], *, narrow: bool = False,
                  ) -> list[tuple[list[Symbol], Counter[str]]]:
    """Symbols and reference counts per byte span (sorted, non-overlapping), from one query
    run: a match belongs to the span holding its name. ``narrow`` restricts the query to the
    spans' extent (worth it for one small span)."""
    import tree_sitter

    cursor = tree_sitter.QueryCursor(query)
    if narrow and spans:
        cursor.set_byte_range(spans[0][0], spans[-1][1])
    starts = [a for a, _ in spans]
    buckets = [_Span() for _ in spans]
    for _, captures in cursor.matches(tree.root_node):
        names = captures.get("name")
        if not names:
            continue
        name_node = names[0]
        at = name_node.start_byte
        i = bisect.bisect_right(starts, at) - 1
        if i < 0 or at >= spans[i][1]:
            continue
        bucket = buckets[i]
        for capture, nodes in captures.items():
            if capture.startswith("definition."):
                bucket.def_starts.add(at)
                symbol = _symbol(spec, capture[len("definition."):], nodes[0], name_node, source)
                if symbol is None:
                    break
                key = (symbol.name, symbol.start_line)
                if key not in bucket.seen:
                    bucket.seen[key] = len(bucket.symbols)
                    bucket.symbols.append(symbol)
                elif bucket.symbols[bucket.seen[key]].kind in _WEAK_KINDS and \
                        symbol.kind not in _WEAK_KINDS:
                    bucket.symbols[bucket.seen[key]] = symbol  # `const f = () => ...`
                break
            if capture.startswith("reference."):
                bucket.refs.append(name_node)
                break
    out = []
    for bucket in buckets:
        refs: Counter[str] = Counter()
        for node in bucket.refs:
            if node.start_byte not in bucket.def_starts:
                refs[node.text.decode("utf-8", "replace")] += 1
        bucket.symbols.sort(key=lambda sym: (sym.start_line, sym.end_line))
        out.append((bucket.symbols, refs))
    return out


def shift(symbol: Symbol, rows: int) -> Symbol:
    """``symbol`` moved down by ``rows`` lines."""
    if rows == 0:
        return symbol
    return Symbol(symbol.name, symbol.kind, symbol.start_line + rows, symbol.end_line + rows,
                  symbol.signature, symbol.scope)


def _symbol(spec: languages.LanguageSpec, kind: str, node: Any, name_node: Any,
            source: bytes) -> Symbol | None:
    name = name_node.text.decode("utf-8", "replace")
    if not name:
        return None
    for captured_type, targets in spec.widen:
        if node.type == captured_type:
            parent, hops = node.parent, 0
            while parent is not None and hops < 4:
                if parent.type in targets:
                    node = parent
                    break
                parent, hops = parent.parent, hops + 1
    scopes = scope_chain(spec, node.parent)
    if kind == "function" and scopes and scopes[-1][1] in _CLASS_LIKE:
        kind = "method"
    return Symbol(
        name=name,
        kind=kind,
        start_line=node.start_point[0],
        end_line=node.end_point[0] - (1 if node.end_point[1] == 0 and
                                      node.end_point[0] > node.start_point[0] else 0),
        signature=signature(node, source),
        scope=".".join(n for n, _ in scopes),
    )


def scope_chain(spec: languages.LanguageSpec, node: Any) -> list[tuple[str, str]]:
    """``(name, node type)`` of the named scopes enclosing ``node``, outermost first."""
    chain: list[tuple[str, str]] = []
    while node is not None:
        if node.type in spec.scopes:
            name = scope_name(node)
            if name:
                chain.append((name, node.type))
        node = node.parent
    chain.reverse()
    return chain


def scope_name(node: Any) -> str:
    """The name of a scope node (``class Foo`` -> ``Foo``; C functions via their declarator)."""
    name = node.child_by_field_name("name")
    if name is None and node.type == "impl_item":
        name = node.child_by_field_name("type")
    if name is None:
        declarator = node.child_by_field_name("declarator")
        while declarator is not None and declarator.type not in {
            "identifier", "field_identifier", "qualified_identifier", "type_identifier",
        }:
            declarator = declarator.child_by_field_name("declarator")
        name = declarator
    return name.text.decode("utf-8", "replace") if name is not None else ""


def signature(node: Any, source: bytes) -> str:
    """The head of a definition: its text up to the body, at most a few lines."""
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else None
    if end is None:
        newline = source.find(b"\n", node.start_byte, node.end_byte)
        end = newline if newline >= 0 else node.end_byte
    text = source[node.start_byte:end].decode("utf-8", "replace").rstrip()
    lines = text.split("\n")
    if len(lines) > MAX_SIGNATURE_LINES:
        lines = [*lines[:MAX_SIGNATURE_LINES], "..."]
    text = "\n".join(line.rstrip() for line in lines)
    return text[:MAX_SIGNATURE_CHARS]
