"""Lexical similarity of code windows (RepoCoder-style Jaccard over identifier sets), pure.

A file is seen as overlapping windows of ``WINDOW`` lines every ``STRIDE`` lines; a window is
the set of its identifiers (language keywords and one-letter names dropped). The query is the
few lines before the cursor; the best windows are those with the highest Jaccard similarity.
:class:`FileWindows` scores only the windows around lines that contain the query's rarest
identifiers (found with one regex scan of the file), so a request costs little even in files
of thousands of lines.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

WINDOW = 12
STRIDE = 4


@dataclass(frozen=True, slots=True)
class Window:
    """Lines ``[start, end)`` of a file and their identifier set."""

    start: int
    end: int
    tokens: frozenset[str]


def tokens(text: str, keywords: frozenset[str] = frozenset()) -> set[str]:
    """Identifiers of ``text`` (two or more characters, not keywords)."""
    return {t for t in IDENT.findall(text) if len(t) > 1 and t not in keywords}


def jaccard(a: frozenset[str] | set[str], b: frozenset[str] | set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (0 for two empty sets)."""
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def best_windows(query: set[str], candidates: Iterable[Window], k: int,
                 *, min_score: float = 0.05) -> list[tuple[float, Window]]:
    """The ``k`` most similar windows, best first, without two overlapping ones."""
    scored = heapq.nlargest(4 * k + 4, ((jaccard(query, w.tokens), -w.start, w)
                                        for w in candidates), key=lambda t: (t[0], t[1]))
    chosen: list[tuple[float, Window]] = []
    for score, _, window in scored:
        if score < min_score or len(chosen) >= k:
            break
        if any(window.start < w.end and w.start < window.end for _, w in chosen):
            continue
        chosen.append((score, window))
    return chosen


class FileWindows:
    """One file's lines with lazily computed per-line identifier sets."""

    __slots__ = ("_blocks", "keywords", "lines", "text")

    def __init__(self, lines: list[str], keywords: frozenset[str] = frozenset(),
                 text: str | None = None) -> None:
        self.lines = lines
        self.text = "\n".join(lines) if text is None else text
        self.keywords = keywords
        self._blocks: dict[int, frozenset[str]] = {}  # STRIDE-line block -> identifiers

    def block_tokens(self, b: int) -> frozenset[str]:
        """Identifiers of lines ``[b * STRIDE, (b + 1) * STRIDE)`` (cached)."""
        found = self._blocks.get(b)
        if found is None:
            found = frozenset(tokens("\n".join(self.lines[b * STRIDE:(b + 1) * STRIDE]),
                                     self.keywords))
            self._blocks[b] = found
        return found

    def window(self, start: int, size: int = WINDOW) -> Window:
        """The window of ``size`` lines from ``start`` (both multiples of ``STRIDE``): the
        union of its cached blocks."""
        end = min(len(self.lines), start + size)
        toks: frozenset[str] = frozenset()
        for b in range(start // STRIDE, (end + STRIDE - 1) // STRIDE):
            toks = toks | self.block_tokens(b)
        return Window(start, end, toks)

    def anchored(self, anchors: Sequence[str], *, max_lines: int = 16,
                 per_anchor: int = 6) -> list[Window]:
        """The windows (on the ``stride`` grid) that contain a line mentioning an anchor.

        ``anchors`` are searched rarest first, at most ``per_anchor`` lines each and
        ``max_lines`` in all."""
        if not anchors or not self.lines:
            return []
        text = self.text
        hit_lines: set[int] = set()
        for anchor in anchors:
            # A literal first lets the regex engine scan fast; the left word boundary is
            # checked by hand, and at most 64 occurrences are looked at per anchor.
            pattern = re.compile(re.escape(anchor) + r"\b")
            found = 0
            line, counted = 0, 0  # newlines are counted once per anchor, left to right
            for m in itertools.islice(pattern.finditer(text), 64):
                at = m.start()
                if at and (text[at - 1].isalnum() or text[at - 1] == "_"):
                    continue
                line += text.count("\n", counted, at)
                counted = at
                hit_lines.add(line)
                found += 1
                if found >= per_anchor:
                    break
            if len(hit_lines) >= max_lines:
                break
        starts: set[int] = set()
        for line in hit_lines:
            first = max(0, (line - WINDOW + 1 + STRIDE - 1) // STRIDE * STRIDE)
            starts.update(range(first, line + 1, STRIDE))
        return [self.window(s) for s in sorted(starts) if s < len(self.lines)]
