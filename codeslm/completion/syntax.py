"""A tiny tree-sitter helper for post-processing: a parser per language and error counting.

Grammars are the per-language PyPI wheels (``tree_sitter_python`` and friends). A language
without an installed grammar has no parser (:func:`parser_for` returns None) and the syntax
rules are skipped for it.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# tree-sitter language name -> (grammar module, function returning the language pointer)
GRAMMARS: dict[str, tuple[str, str]] = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "tsx": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}

_local = threading.local()  # tree_sitter.Parser objects are not shared between threads


@functools.cache
def language(name: str | None) -> Any | None:
    """The ``tree_sitter.Language`` for ``name``, or None when no grammar is installed."""
    if not name or name not in GRAMMARS:
        return None
    module_name, attr = GRAMMARS[name]
    try:
        import tree_sitter

        module = importlib.import_module(module_name)
        return tree_sitter.Language(getattr(module, attr)())
    except (ImportError, AttributeError, ValueError) as exc:
        log.warning("no tree-sitter grammar for %s (%s)", name, exc)
        return None


def parser_for(name: str | None) -> Any | None:
    """A parser for ``name`` owned by the calling thread, or None without a grammar."""
    lang = language(name)
    if lang is None or name is None:
        return None
    parsers: dict[str, Any] = getattr(_local, "parsers", None) or {}
    _local.parsers = parsers
    if name not in parsers:
        import tree_sitter

        parsers[name] = tree_sitter.Parser(lang)
    return parsers[name]


@dataclass(frozen=True, slots=True)
class SyntaxErrors:
    """ERROR and MISSING nodes of a parse; ``count`` orders candidates (fewer is better)."""

    errors: int
    missing: int

    @property
    def count(self) -> int:
        return self.errors + self.missing


def count_errors(tree: Any) -> SyntaxErrors:
    """Count ERROR and MISSING nodes of a tree (a node inside an ERROR counts too)."""
    errors = missing = 0
    if not tree.root_node.has_error:
        return SyntaxErrors(0, 0)
    cursor = tree.walk()
    while True:
        node = cursor.node
        if node.is_error:
            errors += 1
        elif node.is_missing:
            missing += 1
        if node.has_error and cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return SyntaxErrors(errors, missing)


def parse(language_name: str | None, text: str) -> Any | None:
    """Parse ``text``; None when the language has no grammar."""
    parser = parser_for(language_name)
    if parser is None:
        return None
    return parser.parse(text.encode("utf-8"))


def errors_in(language_name: str | None, text: str) -> SyntaxErrors | None:
    """Syntax errors of ``text`` in ``language_name``; None when there is no grammar."""
    tree = parse(language_name, text)
    return None if tree is None else count_errors(tree)
