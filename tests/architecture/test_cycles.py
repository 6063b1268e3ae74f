"""No import cycles between modules (lazy imports included): a cycle means two modules are
one role split badly, and the order they load in decides whether they work."""

from __future__ import annotations

from .walk import ALL_MODULES

# Packages whose internal cycles are tolerated, with why; empty since lsp/handlers.py registers
# the language server's handlers (they and server.py imported each other).
ALLOWED_CYCLES: dict[str, str] = {}


def cycles() -> list[list[str]]:
    """The import cycles among codeslm's modules."""
    known = {m.name for m in ALL_MODULES}
    return strongly_connected({m.name: sorted(m.dependencies(known)) for m in ALL_MODULES})


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            step = next(edges, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = len(index)
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(graph[step])))
                elif step in on_stack:
                    low[node] = min(low[node], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _allowed(component: list[str]) -> str | None:
    for package in ALLOWED_CYCLES:
        if all(name.startswith(package + ".") for name in component):
            return package
    return None


def test_no_import_cycles() -> None:
    assert [c for c in cycles() if _allowed(c) is None] == []


def test_allowed_cycles_still_exist() -> None:
    used = {_allowed(c) for c in cycles()}
    assert sorted(set(ALLOWED_CYCLES) - used) == []


def test_the_cycle_finder_finds_cycles_and_only_them() -> None:
    graph = {
        "a": ["b"],
        "b": ["c"],
        "c": ["a", "d"],
        "d": [],
        "e": ["e", "a"],
        "f": ["g"],
        "g": ["f"],
    }
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["f", "g"]]
