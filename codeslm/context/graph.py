"""File-level def/ref graph and personalised PageRank over it (in the spirit of aider's map).

An edge runs from a file that references an identifier to each file that defines it, weighted
like aider: ``sqrt(count)`` times a multiplier that favours long, specific names and
discounts private names and names defined in many files; imports add a strong edge. The rank
is a forward-push approximation of personalised PageRank seeded at the current file (and
recently touched files), so a query touches only the neighbourhood it needs.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping

from .index import WorkspaceIndex

MAX_DEFINERS = 8  # a name defined in more files than this says nothing about which one is meant
IMPORT_WEIGHT = 4.0


def name_weight(name: str, definers: int) -> float:
    """aider's multiplier: long snake/camel names count more; private and common names less."""
    weight = 1.0
    if len(name) >= 8 and ("_" in name.strip("_") or any(c.isupper() for c in name[1:])):
        weight *= 4.0
    if name.startswith("_"):
        weight *= 0.2
    if definers > 3:
        weight *= 0.3
    return weight


class FileGraph:
    """Out-edges per file, computed lazily and cached per file content and definitions state."""

    def __init__(self, index: WorkspaceIndex) -> None:
        self.index = index
        self._cache: dict[str, tuple[str, int, dict[str, float]]] = {}

    def out_edges(self, path: str) -> dict[str, float]:
        """``definer path -> weight`` for the files ``path`` depends on."""
        entry = self.index.entries.get(path)
        if entry is None:
            return {}
        cached = self._cache.get(path)
        if cached is not None and cached[0] == entry.hash and cached[1] == self.index.defs_version:
            return cached[2]
        edges: dict[str, float] = {}
        defs = self.index.defs
        for name, count in entry.references.items():
            found = defs.get(name)
            if not found or name.startswith("__"):
                continue
            files = [p for p in found if p != path]
            if not files or len(files) > MAX_DEFINERS:
                continue
            w = name_weight(name, len(files)) * math.sqrt(count) / len(files)
            for f in files:
                edges[f] = edges.get(f, 0.0) + w
        for targets in self.index.resolve_imports(path).values():
            for target in targets:
                if target != path:
                    edges[target] = edges.get(target, 0.0) + IMPORT_WEIGHT
        self._cache[path] = (entry.hash, self.index.defs_version, edges)
        return edges


def personalized_pagerank(
    out_edges: Callable[[str], Mapping[str, float]],
    seeds: Mapping[str, float],
    *,
    alpha: float = 0.15,
    epsilon: float = 1e-3,
    max_pushes: int = 400,
) -> dict[str, float]:
    """Approximate PPR by forward push: mass ``alpha`` stays at each visited node and the
    rest flows along out-edges; dangling mass returns to the seeds."""
    total = sum(seeds.values())
    if total <= 0:
        return {}
    seed_dist = {k: v / total for k, v in seeds.items() if v > 0}
    rank: dict[str, float] = {}
    residual: dict[str, float] = dict(seed_dist)
    queue = deque(seed_dist)
    pushes = 0
    while queue and pushes < max_pushes:
        node = queue.popleft()
        mass = residual.pop(node, 0.0)
        if mass <= epsilon:
            continue
        pushes += 1
        rank[node] = rank.get(node, 0.0) + alpha * mass
        edges = out_edges(node)
        spread = (1 - alpha) * mass
        weight_sum = sum(edges.values())
        if weight_sum <= 0:
            edges, weight_sum = seed_dist, 1.0
        for target, weight in edges.items():
            share = spread * weight / weight_sum
            before = residual.get(target, 0.0)
            residual[target] = before + share
            if before <= epsilon < before + share:
                queue.append(target)
    for node, mass in residual.items():  # unpushed mass still counts, a little
        rank[node] = rank.get(node, 0.0) + alpha * mass
    return rank
