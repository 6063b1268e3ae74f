"""Candidate source 3, **similar code**: windows of other files (and of the current file
outside the local window) lexically similar to the lines before the cursor (Jaccard,
RepoCoder-style), each shown with the lines that follow it, which are what the user may be
about to write again.

Files are first chosen by the IDF overlap of their identifiers with the query (boosted by the
file-graph prior and recency); only windows containing the query's rarest identifiers (the
anchors) are scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .. import languages, similarity
from ..index import WorkspaceIndex
from ..request import BuilderOptions, CursorQuery, LineSource, Request, family
from ..snippets import Snippet, render_lines

WINDOW_CACHE_FILES = 48  # files whose scoring windows are kept (LRU)


class SimilarSource:
    """Similar windows of code; see the module docstring."""

    def __init__(self, index: WorkspaceIndex, source: LineSource, options: BuilderOptions) -> None:
        self.index = index
        self.source = source
        self.options = options
        self._windows: dict[tuple[str, str], similarity.FileWindows] = {}

    def file_windows(self, path: str) -> similarity.FileWindows | None:
        """A file's lines ready for window scoring (a small LRU, per content)."""
        entry = self.index.entries.get(path)
        if entry is None:
            return None
        key = (path, entry.hash)
        cached = self._windows.pop(key, None)
        if cached is None:
            lines = self.source.lines(path)
            if lines is None:
                return None
            spec = languages.spec_for(entry.language)
            cached = similarity.FileWindows(
                lines, spec.keywords if spec else frozenset(), text=self.source.text(path)
            )
            if len(self._windows) >= WINDOW_CACHE_FILES:
                self._windows.pop(next(iter(self._windows)))
        self._windows[key] = cached  # most recently used last
        return cached

    def candidates(self, request: Request) -> list[Snippet]:
        """The best windows of the candidate files, each with ``window_after`` lines."""
        q, c = request.query, request.cursor
        o = self.options
        query = similarity.tokens(c.text_above(o.query_lines), c.keywords)
        if len(query) < 2:
            return []
        files, anchors = self._candidate_files(q, query, request.prior, request.recent)
        out: list[Snippet] = []
        for path in files:
            fw = self.file_windows(path)
            if fw is None:
                continue
            # Only the anchors this file contains (the postings know) are searched for.
            windows = fw.anchored([a for a in anchors if path in self.index.files_with(a)])
            if path == q.path:
                windows = [w for w in windows if w.end <= c.win_first or w.start > c.win_last]
            for score, w in similarity.best_windows(
                query, windows, o.windows_per_file, min_score=o.min_similarity
            ):
                end = min(len(fw.lines), w.end + o.window_after)
                if path == q.path and w.start > c.win_last:
                    end = w.end
                snippet_text = render_lines(fw.lines, w.start, end)
                out.append(
                    Snippet(
                        path,
                        w.start,
                        end,
                        snippet_text,
                        score * o.similarity_weight,
                        "similar",
                        key=f"sim:{path}:{w.start}",
                    )
                )
        return out

    def _candidate_files(
        self,
        q: CursorQuery,
        query: set[str],
        prior: Mapping[str, float],
        recent: Mapping[str, float],
    ) -> tuple[list[str], list[str]]:
        """Files to search for similar windows (by IDF overlap with the query) and the
        query's rarest identifiers, which anchor the windows worth scoring."""
        n = max(1, len(self.index))
        limit = max(50, n // 5)
        idf: dict[str, float] = {}
        for token in query:
            df = len(self.index.files_with(token))
            if 0 < df <= limit:
                idf[token] = math.log(1.0 + n / df)
        anchors = sorted(idf, key=lambda t: (-idf[t], t))[:12]
        if q.scope != "repo":
            return ([q.path] if q.path in self.index.entries else []), anchors
        wanted = family(q.language)
        scores: dict[str, float] = {}
        for token, weight in idf.items():
            for path in self.index.files_with(token):
                scores[path] = scores.get(path, 0.0) + weight
        ranked = []
        for path, score in scores.items():
            entry = self.index.entries.get(path)
            if entry is None or family(entry.language) != wanted:
                continue
            boost = 1.0 + 0.3 * prior.get(path, 0.0) + 0.2 * recent.get(path, 0.0)
            ranked.append((score * boost, path))
        ranked.sort(reverse=True)
        chosen = [p for _, p in ranked[: self.options.candidate_files]]
        if q.path in self.index.entries and q.path not in chosen:
            chosen.append(q.path)
        return chosen, anchors
