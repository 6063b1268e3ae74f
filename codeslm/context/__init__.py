"""The tree-sitter context builder: workspace index, cross-file ranking, prompt blocks.

Entry points: :class:`WorkspaceProvider` (an engine ``ContextProvider`` for one root, with
incremental updates for open buffers) and :func:`provider_for_root` (the language server's
factory); :class:`WorkspaceIndex` for indexing alone (``codeslm index``).
"""

from __future__ import annotations

from .index import IndexReport, WorkspaceIndex
from .provider import WorkspaceProvider, provider_for_root

__all__ = ["IndexReport", "WorkspaceIndex", "WorkspaceProvider", "provider_for_root"]
