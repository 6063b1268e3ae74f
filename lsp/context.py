"""Cross-file context per workspace folder, kept current from the editor's events.

The server holds one context provider per workspace root (multi-root workspaces get several)
and routes each completion to the provider of the root that contains the document. Providers
come from :func:`default_factory`; the editor's ``didOpen``/``didChange``/``didSave``/watched
file events reach them through :meth:`WorkspaceContext.update` and :meth:`remove`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from codeslm.config import Config
from codeslm.context.port import (
    ContextProvider,
    CrossFileContext,
    PathOperation,
    TokenCounter,
    operation,
)
from codeslm.types import Document

log = logging.getLogger(__name__)

# A root's provider, or None for a root that gets no cross-file context.
ProviderFactory = Callable[[str, Config], ContextProvider | None]


def default_factory(root: str, config: Config) -> ContextProvider | None:
    """The context provider for ``root``, or None when context is off or the root too broad.

    A provider satisfies :class:`codeslm.context.port.ContextProvider` and may offer any of
    the :class:`~codeslm.context.port.DocumentEvents` (open buffers, closes, changes on disk,
    opens, ``close``); the router below calls those it offers. The built-in one is the
    tree-sitter context builder (:mod:`codeslm.context`), which loads the root's cached index
    and refreshes it in the background.
    """
    if not config.context.enabled or _too_broad(root):
        return None
    from codeslm.context import provider_for_root

    return provider_for_root(root, config)


def _too_broad(root: str) -> bool:
    """Roots that are not projects: the filesystem root and the home directory itself."""
    path = Path(root).resolve()
    if path == Path(path.anchor) or path == Path.home().resolve():
        log.warning("not indexing %s: open a project folder for cross-file context", root)
        return True
    return False


def _close_later(provider: ContextProvider | None) -> None:
    close = operation(provider, "close")
    if close is not None:
        threading.Thread(target=close, name="codeslm-context-close", daemon=True).start()


class WorkspaceContext:
    """Providers by workspace root; itself a :class:`codeslm.context.port.ContextProvider`."""

    def __init__(self, factory: ProviderFactory = default_factory) -> None:
        self._factory = factory
        self._providers: dict[str, ContextProvider | None] = {}

    @property
    def roots(self) -> list[str]:
        return list(self._providers)

    def set_roots(self, roots: list[str], config: Config) -> None:
        """Keep providers for ``roots`` (creating missing ones, dropping the others)."""
        wanted = [str(Path(r)) for r in roots]
        for root in list(self._providers):
            if root not in wanted:
                _close_later(self._providers.pop(root))
        for root in wanted:
            if root not in self._providers:
                try:
                    self._providers[root] = self._factory(root, config)
                except Exception:  # a broken index must not take completions down
                    log.exception("cannot build the context for %s", root)
                    self._providers[root] = None

    def ensure_root(self, path: str | None, config: Config) -> None:
        """Give a document outside every workspace folder the context of its repository.

        Editors opened on a single file send no folder; the nearest directory with a ``.git``
        above the file then becomes a root (never the filesystem root or the home directory).
        """
        if not path or self.root_for(path) is not None:
            return
        directory = Path(path).parent
        for candidate in (directory, *directory.parents):
            if (candidate / ".git").exists():
                if str(candidate) not in self._providers and not _too_broad(str(candidate)):
                    log.info("%s is in no workspace folder; using its repository %s",
                             path, candidate)
                    self.set_roots([*self._providers, str(candidate)], config)
                return

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

    def _provider(self, path: str | None) -> ContextProvider | None:
        root = self.root_for(path)
        return None if root is None else self._providers.get(root)

    def update(self, path: str | None, text: str) -> None:
        """Tell the provider of ``path`` the current text of an open document."""
        if path and (update := operation(self._provider(path), "update_document")):
            self._guarded("update_document", path, lambda: update(path, text))

    def _event(self, path: str | None, name: PathOperation) -> bool:
        """Send event ``name`` to the provider of ``path``; False if it does not take it."""
        function = operation(self._provider(path), name)
        if function is None or not path:  # (a provider is found only for a path)
            return False
        self._guarded(name, path, lambda: function(path))
        return True

    @staticmethod
    def _guarded(name: str, path: str, call: Callable[[], None]) -> None:
        try:
            call()
        except Exception:  # a provider's failure must not reach the editor's event handler
            log.exception("context %s failed for %s", name, path)

    def opened(self, path: str | None, text: str) -> None:
        """A document was opened in the editor."""
        self.update(path, text)
        self._event(path, "note_opened")

    def closed(self, path: str | None) -> None:
        """A document was closed: its file on disk is the truth again."""
        self._event(path, "remove_document")

    def remove(self, path: str | None) -> None:
        """A file was deleted."""
        if not self._event(path, "file_changed"):
            self._event(path, "remove_document")

    def changed_on_disk(self, path: str | None, read: Callable[[str], str | None]) -> None:
        """A watched file changed on disk (not an open document)."""
        if not self._event(path, "file_changed") and path:
            text = read(path)
            if text is not None:
                self.update(path, text)

    def close(self) -> None:
        """Release every provider (in the background: closing may wait for a refresh)."""
        for root in list(self._providers):
            _close_later(self._providers.pop(root))

    def context_for(self, document: Document, offset: int, *, budget_tokens: int,
                    count_tokens: TokenCounter) -> CrossFileContext:
        provider = self._provider(document.path)
        if provider is None:
            return CrossFileContext()
        try:
            return provider.context_for(
                document, offset, budget_tokens=budget_tokens, count_tokens=count_tokens)
        except Exception:  # context is an improvement, never a reason to fail a completion
            log.exception("context failed for %s", document.path)
            return CrossFileContext()
