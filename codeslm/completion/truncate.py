"""Syntax-validated truncation: keep the longest cut of the completion that leaves the fewest
syntax errors in the file.

``prefix + cut + suffix`` is parsed with tree-sitter for each candidate cut and compared with
``prefix + suffix`` (the file with the hole left empty, which may itself have errors: the
user is in the middle of typing). Candidates are whole lines for multi-line completions and
token boundaries inside a single line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from . import syntax
from .brackets import unclosed
from .hole import Hole

_BOUNDARY = re.compile(r"(?<=[\w)\]}'\"])(?=\W)|(?<=[,;:])")
MAX_CANDIDATES = 48


def _python_compiles(text: str) -> bool:
    """Whether CPython's own parser accepts ``text`` (it checks indentation, which the
    tree-sitter grammar tolerates). Nothing is executed."""
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


class SyntaxJudge:
    """Counts the syntax errors a candidate adds to the hole; caches parses of the hole
    (nothing is parsed before the first question, so making one costs nothing).

    The count is tree-sitter's ERROR and MISSING nodes; for Python, a file that CPython's
    parser rejects counts one more (the tree-sitter grammar tolerates bad indentation).
    """

    def __init__(self, hole: Hole) -> None:
        self.hole = hole
        self.available = syntax.language(hole.language) is not None
        self._cache: dict[str, int] = {}
        self._strict = self.available and hole.language == "python"

    def errors(self, candidate: str) -> int:
        """Syntax errors of the file with ``candidate`` in the hole."""
        if candidate not in self._cache:
            text = self.hole.prefix + candidate + self.hole.suffix
            found = syntax.errors_in(self.hole.language, text)
            count = found.count if found is not None else 0
            if self._strict and not _python_compiles(text):
                count += 1
            self._cache[candidate] = count
        return self._cache[candidate]

    def added(self, candidate: str) -> int:
        """Errors ``candidate`` adds compared with the empty hole (never negative)."""
        return max(0, self.errors(candidate) - self.errors(""))


def line_candidates(text: str) -> list[str]:
    """``text`` cut after each of its lines, longest first."""
    lines = text.split("\n")
    out = ["\n".join(lines[:k]).rstrip() for k in range(len(lines), 0, -1)]
    return [c for c in dict.fromkeys(out) if c.strip()]


def token_candidates(line: str) -> list[str]:
    """``line`` cut at token boundaries, longest first (at most ``MAX_CANDIDATES``)."""
    cuts = {len(line.rstrip())}
    cuts.update(m.start() for m in _BOUNDARY.finditer(line))
    ordered = sorted((c for c in cuts if line[:c].strip()), reverse=True)[:MAX_CANDIDATES]
    return [line[:c].rstrip() for c in ordered]


def with_closers(candidate: str, judge: SyntaxJudge) -> str:
    """``candidate`` plus the closers of the brackets it left open, when that parses better."""
    closers = unclosed(candidate)
    if not closers or candidate.rstrip()[-1:] in "([{":
        return candidate  # nothing inside the open bracket: cutting is better than ``f()``
    fixed = candidate + closers
    return fixed if judge.errors(fixed) < judge.errors(candidate) else candidate


def best_cut(candidates: Iterable[str], judge: SyntaxJudge) -> str | None:
    """The candidate that leaves the fewest syntax errors in the file (after closing the
    brackets it opened, when that helps), the longest among equals; None without candidates.

    With a file that has no errors of its own, that is the longest cut adding no errors.
    ``candidates`` must be ordered longest first.
    """
    best: tuple[int, str] | None = None
    for candidate in candidates:
        fixed = with_closers(candidate, judge)
        errors = judge.errors(fixed)
        if best is None or errors < best[0]:
            best = (errors, fixed)
            if errors == 0:
                break
    return None if best is None else best[1]
