"""The context builder's core: a cursor in a document -> ranked, budget-fitted snippets.

Pure given its inputs (the index, a source of file lines, the file graph): it reads no files
itself. Candidates come from three sources (:mod:`codeslm.context.sources`), from the cursor
outward:

1. **scope** - the enclosing definitions whose headers scrolled out of the local window;
2. **definitions** - names used near the cursor, resolved through the file's imports (then the
   current file, then unambiguous global definitions) to their definitions, shown as whole
   small functions or signatures/skeletons (resolution: :mod:`codeslm.context.resolve`);
3. **similar** - windows of other files (and of the current file outside the local window)
   lexically similar to the lines before the cursor (Jaccard, RepoCoder-style), with the lines
   that follow them.

Scores combine proximity to the cursor, resolution confidence, a personalised-PageRank prior
over the def/ref file graph and recency; selection is greedy under a token budget counted with
the model's tokenizer, and only snippets above a relevance floor are used: on a CPU every
prompt token costs prefill time, so an unhelpful snippet is worse than none.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import similarity
from .budget import select
from .graph import FileGraph, personalized_pagerank
from .index import WorkspaceIndex
from .port import TokenCounter
from .receiver_members import ReceiverMembers
from .request import (
    BuilderOptions,
    CandidateSource,
    Cursor,
    CursorQuery,
    LineSource,
    Request,
)
from .resolve import Resolver
from .snippets import Snippet
from .sources.definitions import DefinitionSource
from .sources.scope import ScopeSource
from .sources.similar import SimilarSource

__all__ = ["BuilderOptions", "ContextBuilder", "CursorQuery", "LineSource"]


class ContextBuilder:
    """Candidate generation and selection over one :class:`WorkspaceIndex`."""

    def __init__(
        self, index: WorkspaceIndex, source: LineSource, *, options: BuilderOptions | None = None
    ) -> None:
        self.index = index
        self.source = source
        self.options = options or BuilderOptions()
        self.graph = FileGraph(index)
        self.resolver = Resolver(index, source, self.options)
        self.members = ReceiverMembers(self.resolver)
        self._similar = SimilarSource(index, source, self.options)
        # Asked in this order; their candidates are listed in it (ties keep it in selection).
        self.sources: tuple[CandidateSource, ...] = (
            ScopeSource(index, source),
            DefinitionSource(index, source, self.options, self.resolver),
            self._similar,
        )

    def build(
        self,
        query: CursorQuery,
        *,
        budget_tokens: int,
        count_tokens: TokenCounter,
        recent: Mapping[str, float] | None = None,
    ) -> list[Snippet]:
        """The chosen snippets for ``query``, best first."""
        candidates = self.candidates(query, recent or {})
        return select(candidates, budget_tokens, count_tokens)

    def candidates(self, query: CursorQuery, recent: Mapping[str, float]) -> list[Snippet]:
        """Every candidate snippet with its score (unsorted, may overlap)."""
        prior = self.prior(query.path, recent) if query.scope == "repo" else {}
        request = Request(query, Cursor.of(query), prior, recent)
        out: list[Snippet] = []
        for source in self.sources:
            out.extend(source.candidates(request))
        return out

    def member_names(self, query: CursorQuery) -> tuple[str, ...]:
        """What may follow ``receiver.`` at the cursor; see :meth:`ReceiverMembers.at_cursor`."""
        return self.members.at_cursor(query)

    def prior(self, path: str, recent: Mapping[str, float]) -> dict[str, float]:
        """Personalised PageRank of files, seeded at ``path`` and recently touched files,
        scaled so the best other file is 1."""
        seeds = {path: 1.0}
        for other, weight in recent.items():
            if other != path and other in self.index.entries:
                seeds[other] = seeds.get(other, 0.0) + 0.3 * weight
        rank = personalized_pagerank(
            self.graph.out_edges, seeds, max_pushes=self.options.ppr_max_pushes
        )
        rank.pop(path, None)
        top = max(rank.values(), default=0.0)
        return {k: v / top for k, v in rank.items()} if top > 0 else {}

    def file_windows(self, path: str) -> similarity.FileWindows | None:
        """A file's lines ready for window scoring (a small LRU, per content)."""
        return self._similar.file_windows(path)
