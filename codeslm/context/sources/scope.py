"""Candidate source 1, **scope**: the headers of the definitions enclosing the cursor whose
first lines scrolled out of the local window (the class and method the code is in)."""

from __future__ import annotations

from ..index import WorkspaceIndex
from ..request import LineSource, Request
from ..snippets import Snippet


class ScopeSource:
    """One snippet with the enclosing definitions' signature lines, outermost first."""

    def __init__(self, index: WorkspaceIndex, source: LineSource) -> None:
        self.index = index
        self.source = source

    def candidates(self, request: Request) -> list[Snippet]:
        """The enclosing headers above the local window (none when all are visible)."""
        q, c = request.query, request.cursor
        entry = self.index.entries.get(q.path)
        if entry is None:
            return []
        heads = [
            s
            for s in entry.symbols
            if s.start_line < c.win_first and s.end_line >= c.line and s.start_line <= c.line
        ]
        if not heads:
            return []
        lines = self.source.lines(q.path)
        if lines is None:
            return []
        parts = []
        for s in heads:
            sig_lines = s.signature.count("\n") + 1
            parts.append("\n".join(lines[s.start_line : s.start_line + sig_lines]))
        text = "\n".join(parts)
        return [
            Snippet(
                q.path,
                heads[0].start_line,
                heads[-1].start_line + 1,
                text,
                3.0,
                "scope",
                key=f"scope:{q.path}:{heads[-1].start_line}",
            )
        ]
