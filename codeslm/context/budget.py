"""Fitting snippets to a token budget (pure): best first, no near-duplicates, the model's
own token counts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from . import similarity
from .snippets import Snippet

TokenCounter = Callable[[str], int]

# Two similar windows this alike (Jaccard of identifiers) say the same thing: keep one.
DUPLICATE_SIMILARITY = 0.6


def select(candidates: Sequence[Snippet], budget_tokens: int,
           count_tokens: TokenCounter) -> list[Snippet]:
    """Greedy best-first fill of ``budget_tokens``; a snippet mostly inside an already chosen
    one (same file) is skipped. Returns the chosen snippets, best first."""
    chosen: list[Snippet] = []
    used = 0
    headers: set[str] = set()
    seen_tokens: list[set[str]] = []  # of the chosen similar windows
    for snippet in sorted(candidates, key=lambda s: (-s.score, s.path, s.start)):
        if budget_tokens - used < 16:
            break
        if any(_mostly_inside(snippet, other) for other in chosen):
            continue
        toks: set[str] = set()
        if snippet.source == "similar":
            # Near-copies of a window already chosen add tokens, not information.
            toks = similarity.tokens(snippet.text)
            if any(similarity.jaccard(toks, other) > DUPLICATE_SIMILARITY
                   for other in seen_tokens):
                continue
        cost = count_tokens(snippet.text) + 2
        if snippet.path not in headers:
            cost += count_tokens(snippet.path) + 2
        if used + cost > budget_tokens:
            continue
        chosen.append(snippet)
        headers.add(snippet.path)
        used += cost
        if toks:
            seen_tokens.append(toks)
    return chosen


def _mostly_inside(a: Snippet, b: Snippet) -> bool:
    if a.path != b.path:
        return False
    overlap = min(a.end, b.end) - max(a.start, b.start)
    return overlap > 0 and overlap >= 0.5 * max(1, a.end - a.start)
