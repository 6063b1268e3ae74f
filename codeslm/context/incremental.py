"""Incremental analysis of an open buffer: tags, identifiers and imports per top-level node,
and the single-edit description tree-sitter needs to reparse incrementally.

Each top-level node's results are memoised by the hash of its text, so after an edit only the
top-level definitions the edit touched are queried again; everything else is reused and
shifted to its new lines. The result equals a full analysis of the same text.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

from . import languages, similarity, tags
from .imports import Import, extract_imports
from .secrets import is_secret_token, strip_strings
from .tags import FileTags, Symbol


@dataclass(frozen=True, slots=True)
class BufferAnalysis:
    """What the index needs about a buffer's text."""

    tags: FileTags
    tokens: frozenset[str]
    imports: tuple[Import, ...]


@dataclass(frozen=True, slots=True)
class _Chunk:
    symbols: tuple[Symbol, ...]  # lines relative to the chunk's first line
    refs: Counter[str]
    tokens: frozenset[str]
    imports: tuple[Import, ...]


def file_tokens(text: str, keywords: frozenset[str]) -> set[str]:
    """Search identifiers of ``text``: none from string literals, none that look like a
    credential (a secret must not become a stored, searchable token)."""
    return {t for t in similarity.tokens(strip_strings(text), keywords) if not is_secret_token(t)}


class IncrementalAnalyzer:
    """Analyses successive versions of one buffer; see the module docstring."""

    def __init__(self, language: str | None) -> None:
        self.language = language
        self._memo: dict[bytes, _Chunk] = {}

    def analyse(self, source: bytes, tree: Any) -> BufferAnalysis | None:
        """The analysis of ``source`` given its up-to-date ``tree`` (None without a grammar)."""
        spec = languages.spec_for(self.language)
        query = languages.tags_query(self.language) if spec and self.language else None
        if spec is None or query is None or tree is None:
            return None
        memo: dict[bytes, _Chunk] = {}
        symbols: list[Symbol] = []
        refs: Counter[str] = Counter()
        token_set: set[str] = set()
        found_imports: list[Import] = []
        children = tree.root_node.children
        keys = [hashlib.blake2b(source[c.start_byte:c.end_byte], digest_size=16).digest()
                for c in children]
        missing = [i for i, key in enumerate(keys) if key not in self._memo]
        if len(missing) > 8:
            # Many new top-level nodes (a buffer just opened): one query over the whole tree
            # is cheaper than one per node.
            spans = [(children[i].start_byte, children[i].end_byte) for i in missing]
            fresh = dict(zip(missing, tags.extract_spans(spec, query, tree, source, spans),
                             strict=True))
        else:
            fresh = {i: tags.extract_range(spec, query, tree, source,
                                           (children[i].start_byte, children[i].end_byte))
                     for i in missing}
        for i, child in enumerate(children):
            key = keys[i]
            found = memo.get(key) or self._memo.get(key)
            row = child.start_point[0]
            if found is None:
                got, counts = fresh[i]
                text = source[child.start_byte:child.end_byte].decode("utf-8", "replace")
                found = _Chunk(tuple(tags.shift(sym, -row) for sym in got), counts,
                               frozenset(file_tokens(text, spec.keywords)),
                               tuple(extract_imports(text, self.language)))
            memo[key] = found
            symbols.extend(tags.shift(sym, row) for sym in found.symbols)
            refs.update(found.refs)
            token_set |= found.tokens
            found_imports.extend(found.imports)
        self._memo = memo
        symbols.sort(key=lambda sym: (sym.start_line, sym.end_line))
        return BufferAnalysis(FileTags(self.language, tuple(symbols), dict(refs), parsed=True),
                              frozenset(token_set), tuple(found_imports))


def edit_span(old: bytes, new: bytes) -> tuple[int, int, int]:
    """``(start, old_end, new_end)`` of the single edit turning ``old`` into ``new``."""
    n = min(len(old), len(new))
    lo, hi = 0, n
    while lo < hi:  # longest common prefix, by bisection on slice equality (fast in C)
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    start = lo
    limit = n - start
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid:] == new[len(new) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    return start, len(old) - lo, len(new) - lo


def point_of(data: bytes, offset: int) -> tuple[int, int]:
    """The tree-sitter point (row, byte column) of a byte offset."""
    row = data.count(b"\n", 0, offset)
    return row, offset - (data.rfind(b"\n", 0, offset) + 1)
