"""How ``codeslm eval repo`` scores a completed hole (exact match, edit similarity, syntax,
cross-file names) and sums up a mode."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..context import tags
from ..context.similarity import IDENT


@dataclass(slots=True)
class ModeSummary:
    """Aggregates of one mode."""

    mode: str
    holes: int = 0
    exact: float = 0.0
    edit_similarity: float = 0.0
    syntax_ok: float = 0.0
    api_match: float = 0.0
    p50_s: float = 0.0
    p95_s: float = 0.0
    prompt_tokens: float = 0.0
    cache_reuse: float = 0.0
    probe_reuse: float | None = None
    probe_p50_s: float | None = None
    context_p95_ms: float = 0.0
    first_use_holes: int = 0  # holes whose cross-file names the file has not used yet
    first_use_exact: float = 0.0  # exact match on those
    constrained_holes: int = 0  # holes whose first identifier was kept to known members
    extra: dict[str, Any] = field(default_factory=dict)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(predicted: str, target: str) -> float:
    """1 - Levenshtein distance / the longer length (1.0 for two empty strings)."""
    longest = max(len(predicted), len(target))
    return 1.0 if longest == 0 else 1.0 - levenshtein(predicted, target) / longest


def _error_count(text: str, language: str | None) -> int | None:
    tree = tags.parse(text.encode("utf-8"), language)
    if tree is None:
        return None
    if not tree.root_node.has_error:
        return 0
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        elif node.has_error:
            stack.extend(node.children)
    return count


def syntax_ok(completed: str, original: str, language: str | None) -> bool:
    """True when ``completed`` has no more syntax errors than ``original`` (languages without
    a grammar count as valid)."""
    after = _error_count(completed, language)
    if after is None:
        return True
    before = _error_count(original, language) or 0
    return after <= before


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def api_match(predicted: str, names: Sequence[str]) -> bool:
    """Whether every cross-file name of a hole appears (as an identifier) in the prediction:
    the part of a line that context from other files can supply (CrossCodeEval's identifier
    match, all-or-nothing)."""
    found = set(IDENT.findall(predicted))
    return all(name in found for name in names)


def summarize(
    results: Sequence[dict[str, Any]],
    modes: Sequence[str],
    names: dict[str, Sequence[str]] | None = None,
    first_use: dict[str, bool] | None = None,
) -> list[ModeSummary]:
    """Per-mode aggregates of result rows (as stored in the JSONL file). ``names`` (hole id ->
    cross-file names) and ``first_use`` (hole id -> Hole.first_use) fill ``api_match`` and
    ``first_use`` for rows written before those existed."""
    out = []
    for mode in modes:
        rows = [r for r in results if r["mode"] == mode]
        s = ModeSummary(mode, holes=len(rows))
        if rows:
            n = len(rows)
            s.exact = sum(r["exact"] for r in rows) / n
            s.edit_similarity = statistics.fmean(r["edit_similarity"] for r in rows)
            s.syntax_ok = sum(r["syntax_ok"] for r in rows) / n
            s.api_match = (
                sum(
                    bool(
                        r.get("api_match")
                        if r.get("api_match") is not None
                        else api_match(r["predicted"], (names or {}).get(r["hole"], ()))
                    )
                    for r in rows
                )
                / n
            )
            latencies = [r["latency_s"] for r in rows]
            s.p50_s = percentile(latencies, 0.5)
            s.p95_s = percentile(latencies, 0.95)
            s.prompt_tokens = statistics.fmean(r["prompt_tokens"] for r in rows)
            s.cache_reuse = _ratio(rows, "cached_prompt_tokens", "prompt_tokens")
            s.context_p95_ms = 1000 * percentile([r["context_s"] for r in rows], 0.95)
            firsts = [
                r
                for r in rows
                if (
                    r.get("first_use")
                    if r.get("first_use") is not None
                    else (first_use or {}).get(r["hole"], False)
                )
            ]
            s.constrained_holes = sum(bool(r.get("constrained")) for r in rows)
            s.first_use_holes = len(firsts)
            s.first_use_exact = sum(r["exact"] for r in firsts) / len(firsts) if firsts else 0.0
            probes = [r for r in rows if r.get("probe_prompt_tokens")]
            if probes:
                s.probe_reuse = _ratio(probes, "probe_cached_tokens", "probe_prompt_tokens")
                s.probe_p50_s = percentile([r["probe_latency_s"] for r in probes], 0.5)
        out.append(s)
    return out


def _ratio(rows: Sequence[dict[str, Any]], part: str, whole: str) -> float:
    total = sum(r[whole] or 0 for r in rows)
    return sum(r[part] or 0 for r in rows) / total if total else 0.0
