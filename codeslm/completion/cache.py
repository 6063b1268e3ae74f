"""Completion caches: typed-ahead reuse and an LRU keyed by the prompt.

:class:`TypedAheadCache` remembers the completions shown per document. When the user types
characters that match the start of a shown completion (and nothing else changed), the rest
of that completion is served at once, without a model call. :class:`PromptCache` maps an
exact generation request (prompt, limits, stops) to its post-processed result, so asking
again at the same place costs nothing. Both are in-memory and bounded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cachetools import LRUCache


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass(frozen=True, slots=True)
class _Shown:
    offset: int  # where the completion was inserted
    prefix_digest: bytes  # document text before ``offset``
    suffix_digest: bytes  # document text after ``offset``
    text: str  # the completion shown
    mode: str


class TypedAheadCache:
    """Per-document memory of shown completions for typing through them.

    ``remember(doc_key, text, offset, completion)`` after showing ``completion`` at
    ``offset`` of document ``text``; ``lookup(doc_key, text, offset)`` returns the part of a
    remembered completion still to be typed when the document now equals the old one with
    the first characters of that completion typed at the old offset. Memory per document is
    the last ``per_document`` completions; at most ``max_documents`` documents are kept.
    """

    def __init__(self, per_document: int = 8, max_documents: int = 64) -> None:
        self.per_document = per_document
        self.max_documents = max_documents
        # Documents in least-recently-used order (a lookup counts as a use).
        self._docs: LRUCache[str, list[_Shown]] = LRUCache(maxsize=max(1, max_documents))
        self.hits = 0
        self.misses = 0

    def remember(self, doc_key: str, text: str, offset: int, completion: str, mode: str) -> None:
        """Record ``completion`` shown at ``offset`` of the document ``text``."""
        if not completion:
            return
        entry = _Shown(offset, _digest(text[:offset]), _digest(text[offset:]), completion, mode)
        shown = self._docs.pop(doc_key, [])
        shown = [s for s in shown if s.offset != offset or s.text != completion]
        shown.append(entry)
        self._docs[doc_key] = shown[-self.per_document :]

    def lookup(self, doc_key: str, text: str, offset: int) -> tuple[str, str] | None:
        """``(rest, mode)`` of a remembered completion the user is typing through, or None.

        ``rest`` is never empty: a completion typed to its end is not a hit.
        """
        for entry in reversed(self._docs.get(doc_key, [])):
            typed = offset - entry.offset
            if not 0 <= typed < len(entry.text):
                continue
            if text[entry.offset : offset] != entry.text[:typed]:
                continue
            if _digest(text[offset:]) != entry.suffix_digest:
                continue
            if _digest(text[: entry.offset]) != entry.prefix_digest:
                continue
            self.hits += 1
            return entry.text[typed:], entry.mode
        self.misses += 1
        return None

    def forget(self, doc_key: str) -> None:
        """Drop what was remembered for a document (closed, or replaced wholesale)."""
        self._docs.pop(doc_key, None)


@dataclass(frozen=True, slots=True)
class CachedResult:
    """A finished, post-processed generation."""

    text: str
    raw: str
    finish_reason: str | None


class PromptCache:
    """An LRU of post-processed results keyed by everything that determines them."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._items: LRUCache[bytes, CachedResult] = LRUCache(maxsize=max(1, size))
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(*parts: object) -> bytes:
        """A cache key from the request's determining parts (prompt, limits, stops, mode...)."""
        return _digest("\x00".join(repr(p) for p in parts))

    def get(self, key: bytes) -> CachedResult | None:
        found = self._items.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        return found

    def put(self, key: bytes, result: CachedResult) -> None:
        if self.size <= 0:
            return
        self._items[key] = result

    def __len__(self) -> int:
        return len(self._items)
