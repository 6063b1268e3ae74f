"""The core objects the server calls, rebuilt when the settings change.

``Services`` owns the effective config (command line + project files + editor settings) and
the workspace context, and holds the server's :class:`~codeslm.session.Session` (the
composition root builds the backend through the registry, so ``--backend vllm --url ...`` just
works, the completion engine, the candidates, the scheduler and the stats). Changing a
backend-shaping key (model, backend, url...) closes the old backend and makes a new one; other
keys only renew the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeslm.backends import Backend, create_backend
from codeslm.completion.request import CompletionOptions, Cursor
from codeslm.completion.scheduler import Scheduler
from codeslm.config import Config, LoadedConfig, as_flat_dict, load_config
from codeslm.engine import CompletionEngine
from codeslm.session import BackendFactory, Session, open_session
from codeslm.types import Completion, Document, HealthStatus

from .context import ProviderFactory, WorkspaceContext, default_factory
from .settings import ORIGIN, needs_new_backend
from .status import StatusReporter

log = logging.getLogger(__name__)

__all__ = ["BackendFactory", "Services"]


class Services:
    """Config, backend, engine and context for the server; see the module docstring."""

    def __init__(
        self,
        flags: Mapping[str, Any],
        status: StatusReporter,
        *,
        backend_factory: BackendFactory = create_backend,
        context_factory: ProviderFactory = default_factory,
    ) -> None:
        self._flags = dict(flags)
        self._editor: dict[str, Any] = {}
        self._roots: list[str] = []
        self.status = status
        self.context = WorkspaceContext(context_factory)
        self.loaded: LoadedConfig = load_config(self._flags)
        self.session: Session = open_session(self.config, context=self.context,
                                             backend_factory=backend_factory,
                                             quick_first=self.config.lsp.quick_first)
        self._describe()

    @property
    def config(self) -> Config:
        return self.loaded.config

    @property
    def roots(self) -> list[str]:
        return list(self._roots)

    def _describe(self) -> None:
        self.status.describe(self.config.model, self.config.backend)

    # -- configuration --------------------------------------------------------------------

    def reconfigure(self, *, editor: Mapping[str, Any] | None = None,
                    roots: list[str] | None = None) -> list[str]:
        """Apply new editor settings and/or workspace roots; returns the changed keys.

        Raises ConfigError (the old config stays) when the merged config is invalid.
        """
        new_editor = dict(self._editor if editor is None else editor)
        new_roots = self._roots if roots is None else list(roots)
        cwd = Path(new_roots[0]) if new_roots else None
        loaded = load_config(self._flags, cwd=cwd, extra_layers=[(ORIGIN, new_editor)])
        old_flat, new_flat = as_flat_dict(self.config), as_flat_dict(loaded.config)
        changed = [k for k in new_flat if old_flat.get(k) != new_flat.get(k)]
        rebuild_backend = needs_new_backend(old_flat, new_flat)
        roots_changed = new_roots != self._roots
        self._editor, self._roots, self.loaded = new_editor, new_roots, loaded
        if not changed and not roots_changed and roots is None:
            return []  # the same settings again: keep the engine and its caches
        # The engine holds the config: renew it (and the backend when a key shapes it).
        self.session.reconfigure(loaded.config, new_backend=rebuild_backend,
                                 quick_first=loaded.config.lsp.quick_first)
        if roots is not None or rebuild_backend:
            self.context.set_roots(new_roots, loaded.config)
        self._describe()
        return changed

    # -- the core objects -----------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend, created on first use (ConfigError for an unknown backend name)."""
        return self.session.backend

    @property
    def engine(self) -> CompletionEngine:
        """The completion engine (renewed after a settings change)."""
        return self.session.engine

    @property
    def typing_engine(self) -> CompletionEngine:
        """The engine for suggestions while the user types (another model's with
        ``completion.fast_model``, else :attr:`engine`)."""
        return self.session.typing_engine

    def engines_if_built(self) -> list[CompletionEngine]:
        """The engines that exist (the typing engine too, when it is another)."""
        return self.session.engines_if_built()

    @property
    def scheduler(self) -> Scheduler:
        """The one owner of debounce, superseding and cancellation of completion requests."""
        return self.session.scheduler

    async def warm_up(self) -> bool:
        """Load or reach the model now rather than on the first keystroke (both models, with
        ``completion.fast_model``); report the state (the caller reports ``loading`` before)."""
        detail = ""
        for engine in dict.fromkeys((self.engine, self.typing_engine)):  # one, or two models
            try:
                health = await engine.backend.health()
            except Exception as exc:  # health() should not raise; a buggy one still must not
                log.exception("health check failed")
                self.status.error(str(exc))
                return False
            if health.status not in (HealthStatus.READY, HealthStatus.SLOW):
                self.status.error(health.detail or health.status.value)
                return False
            try:
                await engine.fim_format()
            except Exception as exc:
                log.warning("cannot detect the FIM format: %s", exc)
                self.status.error(str(exc))
                return False
            detail = detail or health.detail or "ready"
        self.status.ready(detail)
        return True

    def typed_ahead(self, document: Document, cursor: Cursor) -> bool:
        """True when the typing engine can answer at once: the user is typing through a
        suggestion it showed (its typed-ahead cache), so there is nothing to debounce."""
        try:
            return self.typing_engine.cached(document, cursor) is not None
        except Exception:  # a cache probe must never fail a completion
            log.debug("typed-ahead probe failed", exc_info=True)
            return False

    async def complete(self, document: Document, cursor: Cursor, *, n: int = 1,
                       options: CompletionOptions | None = None,
                       automatic: bool = False) -> list[Completion]:
        """Up to ``n`` completions at ``cursor`` (one engine call when ``n`` is 1; a suggestion
        while typing, ``automatic``, from the typing engine). Running it through
        :attr:`scheduler` makes a newer request for the document supersede it."""
        options = options or CompletionOptions()
        if n <= 1:
            engine = self.typing_engine if automatic else self.engine
            completion = await engine.complete(document, cursor, options)
            return [completion] if completion.text.strip() else []
        budget_ms = self.config.lsp.candidates_budget_ms
        return await self.session.candidates.candidates(
            document, cursor, n, options, budget_s=budget_ms / 1000 if budget_ms > 0 else None
        )

    async def aclose(self) -> None:
        """Close the backend (the workspace context is closed by its owner at shutdown)."""
        await self.session.aclose()
