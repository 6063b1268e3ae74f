"""What one context request is, as every candidate source sees it.

A :class:`CursorQuery` (the document, the cursor, the local window the engine shows) is read
once into a :class:`Cursor` (its lines, line and column) and, with the file-graph prior and
the recency of files, becomes the :class:`Request` each :class:`CandidateSource` answers.
:class:`LineSource` is where sources read file contents; :class:`BuilderOptions` holds the
tuning knobs they share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from . import languages
from .snippets import Snippet

# Languages whose files may define what another's code uses (a .ts file imports a .js one).
LANGUAGE_FAMILIES = {"typescript": "js", "tsx": "js", "javascript": "js", "c": "c", "cpp": "c"}


def family(language: str | None) -> str:
    """The family of ``language`` (itself when it shares definitions with no other)."""
    return LANGUAGE_FAMILIES.get(language or "", language or "")


class LineSource(Protocol):
    """Where the builder gets file contents (open buffers first, then disk)."""

    def lines(self, path: str) -> list[str] | None:
        """The lines of ``path`` as indexed, or None when unavailable."""
        ...

    def text(self, path: str) -> str | None:
        """The text of ``path`` as indexed (``lines`` joined), or None when unavailable."""
        ...


@dataclass(frozen=True, slots=True)
class BuilderOptions:
    """Tuning knobs (defaults chosen on real repositories; see benchmarks/RESULTS.md)."""

    near_above: int = 30  # lines above the cursor whose names are resolved
    near_below: int = 8
    query_lines: int = 10  # lines before the cursor that form the similarity query
    candidate_files: int = 8  # files searched for similar windows (by IDF overlap)
    windows_per_file: int = 2
    window_after: int = 4  # lines after a similar window that are shown with it
    min_definition_score: float = 0.2
    min_similarity: float = 0.2
    similarity_weight: float = 2.0
    max_definers: int = 3  # a name defined in more files is too ambiguous to guess
    defs_per_name: int = 2
    ppr_max_pushes: int = 24
    api_names: int = 30  # names listed for ``module.`` at the cursor
    # A name the file imports but does not use yet is likely what the user is about to write.
    unused_import_score: float = 0.4


@dataclass(frozen=True, slots=True)
class CursorQuery:
    """One request: the document, the cursor and the local window the engine will show."""

    path: str
    language: str | None
    text: str
    offset: int
    window_start: int  # offset of the first character of the local prefix
    window_end: int  # offset just past the local suffix
    scope: str = "repo"  # repo | infile


@dataclass(slots=True)
class Cursor:
    """The query's document as lines: the cursor's line and column, and the local window's
    first and last lines; ``keywords`` are the language's (never names to resolve)."""

    lines: list[str]
    line: int
    column: int
    win_first: int
    win_last: int
    keywords: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, q: CursorQuery) -> Cursor:
        """The cursor of ``q`` (the document is split once per request)."""
        text = q.text
        spec = languages.spec_for(q.language)
        return cls(
            lines=text.split("\n"),
            line=text.count("\n", 0, q.offset),
            column=q.offset - (text.rfind("\n", 0, q.offset) + 1),
            win_first=text.count("\n", 0, q.window_start),
            win_last=text.count("\n", 0, max(q.window_start, q.window_end - 1)),
            keywords=spec.keywords if spec else frozenset(),
        )

    def before(self) -> str:
        """The cursor's line up to the cursor."""
        return self.lines[self.line][: self.column]

    def text_above(self, lines: int) -> str:
        """The ``lines`` lines above the cursor and its line up to the cursor."""
        first = max(0, self.line - lines)
        return "\n".join([*self.lines[first : self.line], self.before()])


@dataclass(frozen=True, slots=True)
class Request:
    """One request as the candidate sources see it. ``prior`` is the file-graph prior of
    other files (empty in ``infile`` scope), ``recent`` the recency of touched files, both
    in [0, 1]."""

    query: CursorQuery
    cursor: Cursor
    prior: Mapping[str, float]
    recent: Mapping[str, float]


class CandidateSource(Protocol):
    """One kind of candidate snippet (scope, definitions, similar code)."""

    def candidates(self, request: Request) -> list[Snippet]:
        """Scored candidates for ``request`` (unsorted, may overlap other sources')."""
        ...
