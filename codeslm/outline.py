"""Where definitions are: the function or class around a cursor, and its documentation.

Refactors need a few structural facts (the enclosing function, where its docstring or doc
comment is, how its body is indented); tree-sitter gives them for the languages with an
installed grammar. Languages without one get ``None``, never an error. Offsets are ``str``
indices (code points).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .completion.syntax import language as grammar_language
from .completion.syntax import parser_for

_JS_FUNCTIONS = {"function_declaration", "generator_function_declaration", "method_definition"}
_JS_CLASSES = {"class_declaration", "abstract_class_declaration", "interface_declaration"}

# Node types that are functions / classes (types) per language.
FUNCTIONS: dict[str, set[str]] = {
    "python": {"function_definition"},
    "javascript": _JS_FUNCTIONS,
    "typescript": _JS_FUNCTIONS | {"function_signature"},
    "tsx": _JS_FUNCTIONS,
    "go": {"function_declaration", "method_declaration"},
    "rust": {"function_item"},
    "java": {"method_declaration", "constructor_declaration"},
    "c": {"function_definition"},
    "cpp": {"function_definition"},
}
CLASSES: dict[str, set[str]] = {
    "python": {"class_definition"},
    "javascript": _JS_CLASSES,
    "typescript": _JS_CLASSES,
    "tsx": _JS_CLASSES,
    "go": {"type_declaration"},
    "rust": {"struct_item", "enum_item", "trait_item", "impl_item"},
    "java": {"class_declaration", "interface_declaration", "enum_declaration"},
    "c": {"struct_specifier"},
    "cpp": {"class_specifier", "struct_specifier"},
}
# Wrappers whose range should be used instead of the definition's own (decorators, export).
_WRAPPERS = {"decorated_definition", "export_statement"}

def parse(language: str | None, text: str) -> Any | None:
    """A tree-sitter tree of ``text``, or None when ``language`` has no installed grammar."""
    parser = parser_for(language)
    return parser.parse(text.encode("utf-8")) if parser is not None else None


@dataclass(frozen=True, slots=True)
class Definition:
    """A function or class of a text.

    ``start``/``end`` cover the whole definition (decorators and ``export`` included, from the
    start of its first line); ``name_start`` is where its own keyword line begins; ``docstring``
    is the ``(start, end)`` of a Python docstring statement; ``body_indent`` is the indentation
    of the first body line (Python) and ``indent`` that of the definition's first line.
    """

    kind: str  # "function" | "class"
    name: str
    start: int
    end: int
    header_start: int
    indent: str
    body_start: int | None = None
    body_indent: str | None = None
    docstring: tuple[int, int] | None = None


class _Offsets:
    """Byte offsets of a UTF-8 encoding -> ``str`` offsets."""

    def __init__(self, text: str) -> None:
        self._data = text.encode("utf-8")
        self._ascii = len(self._data) == len(text)

    def __call__(self, byte: int) -> int:
        if self._ascii:
            return byte
        return len(self._data[:byte].decode("utf-8", errors="ignore"))


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _indent_at(text: str, line_start: int) -> str:
    match = re.match(r"[ \t]*", text[line_start:])
    return match.group(0) if match else ""


def _name_of(node: Any) -> str:
    name = node.child_by_field_name("name")
    if name is None:
        declarator = node.child_by_field_name("declarator")
        while declarator is not None and declarator.child_by_field_name("declarator") is not None:
            declarator = declarator.child_by_field_name("declarator")
        name = declarator
    if name is None and node.type == "type_declaration" and node.named_child_count:
        name = node.named_children[0].child_by_field_name("name")
    if name is None or name.text is None:
        return ""
    return str(name.text.decode("utf-8", errors="replace"))


def _definition(node: Any, text: str, language: str, offsets: _Offsets) -> Definition:
    kind = "function" if node.type in FUNCTIONS.get(language, ()) else "class"
    outer = node
    while outer.parent is not None and outer.parent.type in _WRAPPERS:
        outer = outer.parent
    start = _line_start(text, offsets(outer.start_byte))
    header_start = _line_start(text, offsets(node.start_byte))
    body_start = body_indent = docstring = None
    body = node.child_by_field_name("body")
    if language == "python" and body is not None and body.named_child_count:
        first = body.named_children[0]
        first_start = offsets(first.start_byte)
        if text.count("\n", offsets(node.start_byte), first_start):  # body on its own lines
            body_start = _line_start(text, first_start)
            body_indent = _indent_at(text, body_start)
            if (first.type == "expression_statement" and first.named_child_count == 1
                    and first.named_children[0].type == "string"):
                docstring = (first_start, offsets(first.end_byte))
    return Definition(
        kind=kind,
        name=_name_of(node),
        start=start,
        end=offsets(outer.end_byte),
        header_start=header_start,
        indent=_indent_at(text, start),
        body_start=body_start,
        body_indent=body_indent,
        docstring=docstring,
    )


def _types(language: str, kinds: tuple[str, ...]) -> set[str]:
    wanted: set[str] = set()
    if "function" in kinds:
        wanted |= FUNCTIONS.get(language, set())
    if "class" in kinds:
        wanted |= CLASSES.get(language, set())
    return wanted


def enclosing_definition(
    text: str, language: str | None, offset: int, *, kinds: tuple[str, ...] = ("function", "class")
) -> Definition | None:
    """The innermost definition of one of ``kinds`` containing ``offset`` (or starting on its
    line), or None (no grammar, or the cursor is at top level)."""
    tree = parse(language, text)
    if tree is None or language is None:
        return None
    wanted = _types(language, kinds)
    offsets = _Offsets(text)
    line_end = text.find("\n", offset)
    line_end = len(text) if line_end < 0 else line_end
    byte = len(text[:offset].encode("utf-8"))
    line_end_byte = byte + len(text[offset:line_end].encode("utf-8"))
    best: Any = None
    best_span = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        outer = node
        while outer.parent is not None and outer.parent.type in _WRAPPERS:
            outer = outer.parent
        # Only nodes that reach the cursor and start no later than its line can contain it.
        if node.end_byte < byte or outer.start_byte > line_end_byte:
            continue
        if node.type in wanted:
            # A cursor anywhere on the first line (decorators included) means this definition.
            first_line = _line_start(text, offsets(outer.start_byte))
            span = node.end_byte - node.start_byte
            inside = first_line <= offset <= offsets(node.end_byte)
            if inside and (best is None or span <= best_span):
                best, best_span = node, span
        stack.extend(node.children)
    return None if best is None else _definition(best, text, language, offsets)


def definitions(text: str, language: str | None, *, kinds: tuple[str, ...] = ("function", "class")
                ) -> list[Definition]:
    """Every definition of ``kinds`` in ``text``, in source order (nested ones included)."""
    tree = parse(language, text)
    if tree is None or language is None:
        return []
    wanted = _types(language, kinds)
    offsets = _Offsets(text)
    found: list[Definition] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in wanted:
            found.append(_definition(node, text, language, offsets))
        stack.extend(reversed(node.children))
    return found


def has_grammar(language: str | None) -> bool:
    """True when ``language`` can be parsed here."""
    return grammar_language(language) is not None
