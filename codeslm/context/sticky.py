"""Cache-stable cross-file blocks: the same blocks while the cursor stays in one region.

The blocks come before the current file in the prompt, so any change to them (even one block
appended) would cost the backend the whole prefix again. :class:`StickyBlocks` keeps, per
document, the snippets last shown and returns them unchanged while the cursor stays in the
same outermost definition within :data:`STICKY_LINES` and their sources are unchanged;
:func:`layout` renders segments of snippets as redacted prompt blocks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..documents import language_for, line_comment
from ..fim import ContextFile
from . import secrets
from .budget import select
from .index import WorkspaceIndex
from .port import TokenCounter
from .request import CursorQuery, LineSource
from .snippets import Snippet

STICKY_LINES = 40  # the cursor may move this far and keep the same cross-file blocks


@dataclass(slots=True)
class _Sticky:
    line: int
    scope: str
    budget: int
    segments: list[list[Snippet]]
    stamps: dict[str, str]  # snippet key -> hash of the source it was rendered from
    refreshes: int = 0  # the index refresh count when the blocks were chosen


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=8).hexdigest()


class StickyBlocks:
    """The blocks last shown per document (by path relative to the root). Not thread-safe:
    the provider calls it under its lock."""

    def __init__(self, index: WorkspaceIndex, source: LineSource) -> None:
        self.index = index
        self.source = source
        self._sticky: dict[str, _Sticky] = {}
        self._refreshes = 0  # completed index refreshes (an empty sticky context expires)

    def index_refreshed(self) -> None:
        """The index was rebuilt: empty choices made before it no longer hold."""
        self._refreshes += 1

    def forget(self, path: str | None = None) -> None:
        """Drop the blocks of ``path`` (of every document when None)."""
        if path is None:
            self._sticky.clear()
        else:
            self._sticky.pop(path, None)

    def choose(
        self, q: CursorQuery, candidates: Sequence[Snippet], budget: int, count_tokens: TokenCounter
    ) -> tuple[list[list[Snippet]], bool]:
        """The snippets to show, as segments rendered one after the other, and whether they
        are the previous request's.

        While the cursor stays in the region of the previous request (same outermost
        definition, within ``STICKY_LINES``) and the sources of the previous snippets are
        unchanged, the previous blocks are returned unchanged, so everything before the
        cursor stays byte-identical and the backend recomputes only the tail. Otherwise the
        snippets are chosen afresh (those shown before first, in their order).
        """
        line = q.text.count("\n", 0, q.offset)
        scope = self._region(q, line)
        previous = self._sticky.get(q.path)
        # No blocks chosen before the index was (re)built is not a choice to keep: the
        # file opened while the background refresh ran would otherwise stay without context.
        if (
            previous is not None
            and previous.budget == budget
            and previous.scope == scope
            and abs(previous.line - line) <= STICKY_LINES
            and (previous.segments or previous.refreshes == self._refreshes)
        ):
            kept = [x for seg in previous.segments for x in seg]
            if all(self._stamp(x) == previous.stamps.get(x.key) for x in kept):
                # Exactly the same blocks: even a block appended at the end would change the
                # prompt before the current file's prefix and cost its whole prefill again.
                return previous.segments, True
        chosen = select(candidates, budget, count_tokens)
        segment = _ordered(chosen, q.path)
        if previous is not None:  # snippets shown before go first, in their old order
            order = {x.key: i for i, x in enumerate(y for seg in previous.segments for y in seg)}
            known = sorted((x for x in segment if x.key in order), key=lambda x: order[x.key])
            segment = known + [x for x in segment if x.key not in order]
        self._sticky[q.path] = _Sticky(
            line,
            scope,
            budget,
            [segment] if segment else [],
            {x.key: self._stamp(x) for x in segment},
            self._refreshes,
        )
        return self._sticky[q.path].segments, False

    def _stamp(self, snippet: Snippet) -> str:
        if snippet.path == "":
            return ""
        lines = self.source.lines(snippet.path)
        if lines is None:
            return ""
        return _digest("\n".join(lines[snippet.start : snippet.end]))

    def _region(self, q: CursorQuery, line: int) -> str:
        """The outermost definition around ``line`` (the sticky region's identity)."""
        entry = self.index.entries.get(q.path)
        if entry is None:
            return ""
        for sym in entry.symbols:
            if not sym.scope and sym.start_line <= line <= sym.end_line:
                return f"{sym.name}:{sym.start_line}"
        return ""


def layout(
    segments: Sequence[Sequence[Snippet]], redact_extra: Sequence[re.Pattern[str]]
) -> tuple[ContextFile, ...]:
    """One block per run of snippets from the same file, segment after segment (a file may
    appear again in a later segment). Each block's text is redacted (with ``redact_extra``,
    the configured patterns, besides the built-in ones)."""
    files = []
    for segment in segments:
        blocks: list[tuple[str, list[Snippet]]] = []
        for snippet in segment:
            if blocks and blocks[-1][0] == snippet.path:
                blocks[-1][1].append(snippet)
            else:
                blocks.append((snippet.path, [snippet]))
        for path, snippets in blocks:
            text = _join(path, snippets)
            files.append(ContextFile(path, secrets.redact(text, redact_extra)))
    return tuple(files)


def _join(path: str, snippets: Sequence[Snippet]) -> str:
    comment = line_comment(language_for(path))
    ordered = sorted(snippets, key=lambda s: s.start)
    parts: list[str] = []
    last_end = None
    for s in ordered:
        if last_end is not None and s.start != last_end:
            parts.append(f"{comment} ...")
        parts.append(s.text.rstrip("\n"))
        last_end = s.end
    return "\n".join(parts)


def _ordered(snippets: Sequence[Snippet], current: str) -> list[Snippet]:
    """Grouped by file, files from least to most relevant (the best nearest the code being
    completed), the current file's snippets last; within a file, in line order."""
    best: dict[str, float] = {}
    for x in snippets:
        best[x.path] = max(best.get(x.path, 0.0), x.score)
    return sorted(snippets, key=lambda x: (x.path == current, best[x.path], x.path, x.start))
