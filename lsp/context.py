"""Cross-file context per workspace folder, kept current from the editor's events.

The server holds one context provider per workspace root (multi-root workspaces get several)
and routes each completion to the provider of the root that contains the document. Providers
come from :func:`default_factory`; the editor's ``didOpen``/``didChange``/``didSave``/watched
file events reach them through :meth:`WorkspaceContext.update` and :meth:`remove`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from codeslm.config import Config
from codeslm.engine import CrossFileContext, TokenCounter
from codeslm.types import Document

log = logging.getLogger(__name__)

ProviderFactory = Callable[[str, Config], Any]


def default_factory(root: str, config: Config) -> Any | None:
    """The context provider for ``root``, or None when no context builder is installed.

    A provider must offer ``context_for(document, offset, *, budget_tokens, count_tokens)``
    (:class:`codeslm.engine.ContextProvider`) and may offer ``update_document(path, text)``
    and ``remove_document(path)`` for incremental index updates.
    """
    try:
        from codeslm import context as builder  # type: ignore[attr-defined]
    except ImportError:
        return None
    make = getattr(builder, "provider_for_root", None)
    if make is None:
        return None
    return make(root, config)


class WorkspaceContext:
    """Providers by workspace root; itself a :class:`codeslm.engine.ContextProvider`."""

    def __init__(self, factory: ProviderFactory = default_factory) -> None:
        self._factory = factory
        self._providers: dict[str, Any] = {}

    @property
    def roots(self) -> list[str]:
        return list(self._providers)

    def set_roots(self, roots: list[str], config: Config) -> None:
        """Keep providers for ``roots`` (creating missing ones, dropping the others)."""
        wanted = [str(Path(r)) for r in roots]
        for root in list(self._providers):
            if root not in wanted:
                provider = self._providers.pop(root)
                close = getattr(provider, "close", None)
                if callable(close):
                    close()
        for root in wanted:
            if root not in self._providers:
                try:
                    self._providers[root] = self._factory(root, config)
                except Exception:  # a broken index must not take completions down
                    log.exception("cannot build the context for %s", root)
                    self._providers[root] = None

    def root_for(self, path: str | None) -> str | None:
        """The innermost root that contains ``path``."""
        if not path:
            return None
        best: str | None = None
        for root in self._providers:
            if (path == root or path.startswith(root.rstrip("/") + "/")) and (
                    best is None or len(root) > len(best)):
                best = root
        return best

    def _provider(self, path: str | None) -> Any | None:
        root = self.root_for(path)
        return None if root is None else self._providers.get(root)

    def update(self, path: str | None, text: str) -> None:
        """Tell the provider of ``path`` its new text (an edit, a save, a watched change)."""
        provider = self._provider(path)
        update = getattr(provider, "update_document", None)
        if callable(update):
            try:
                update(path, text)
            except Exception:
                log.exception("context update failed for %s", path)

    def remove(self, path: str | None) -> None:
        provider = self._provider(path)
        remove = getattr(provider, "remove_document", None)
        if callable(remove):
            try:
                remove(path)
            except Exception:
                log.exception("context removal failed for %s", path)

    def context_for(self, document: Document, offset: int, *, budget_tokens: int,
                    count_tokens: TokenCounter) -> CrossFileContext:
        provider = self._provider(document.path)
        if provider is None:
            return CrossFileContext()
        try:
            result: CrossFileContext = provider.context_for(
                document, offset, budget_tokens=budget_tokens, count_tokens=count_tokens)
        except Exception:  # context is an improvement, never a reason to fail a completion
            log.exception("context failed for %s", document.path)
            return CrossFileContext()
        return result
