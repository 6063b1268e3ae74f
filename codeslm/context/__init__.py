"""The tree-sitter context builder: workspace index, cross-file ranking, prompt blocks.

Entry points: :class:`WorkspaceProvider` (an engine ``ContextProvider`` for one root, with
incremental updates for open buffers) and :func:`provider_for_root` (the language server's
factory); :class:`WorkspaceIndex` for indexing alone (``codeslm index``). The contract the
engine and the language server hold providers to is :mod:`codeslm.context.port`.

How the package is laid out, from the editor's events down to the files:

- ``port``: the contract (below the engine; imports nothing from either side);
- ``provider`` (open buffers, recency, locking) and ``sticky`` (cache-stable blocks);
- ``builder``: one request's assembly: the ``sources`` (``scope``, ``definitions``,
  ``similar``) each give candidates for a ``request``, ``budget`` selects among them;
  ``resolve`` (names to definitions) and ``receiver_members`` (what may follow
  ``receiver.``) serve them, with ``graph`` (file prior), ``similarity``, ``snippets``
  (rendering) and ``members`` (a class's own names);
- ``index`` (in memory) over ``records`` (per file, parsed in workers), ``store`` (SQLite),
  ``walker`` (which files), ``tags``/``languages``/``imports``/``incremental`` (parsing),
  ``secrets`` (what never enters), ``prune`` (old databases).

The entry points load on first use: the engine imports the port, and importing it must not
load the index and the tree-sitter machinery for a process that never builds context.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .index import IndexReport, WorkspaceIndex
    from .provider import WorkspaceProvider, provider_for_root

__all__ = ["IndexReport", "WorkspaceIndex", "WorkspaceProvider", "provider_for_root"]

_HOMES = {
    "IndexReport": ".index",
    "WorkspaceIndex": ".index",
    "WorkspaceProvider": ".provider",
    "provider_for_root": ".provider",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
