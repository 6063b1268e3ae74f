"""The core objects the server calls, rebuilt when the settings change.

``Services`` owns the effective config (command line + project files + editor settings), the
backend (created through the registry, so ``--backend vllm --url ...`` just works), the
completion engine and the workspace context. Changing a backend-shaping key (model, backend,
url...) closes the old backend and makes a new one; other keys only renew the engine.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from codeslm.backends import Backend, create_backend
from codeslm.candidates import CandidateGenerator
from codeslm.config import Config, LoadedConfig, as_flat_dict, load_config
from codeslm.engine import CompletionEngine
from codeslm.types import Completion, CompletionMode, Document, HealthStatus, Position

from .context import ProviderFactory, WorkspaceContext, default_factory
from .settings import ORIGIN, needs_new_backend
from .status import StatusReporter

log = logging.getLogger(__name__)

BackendFactory = Callable[[Config], Backend]


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
        self._backend_factory = backend_factory
        self.status = status
        self.context = WorkspaceContext(context_factory)
        self.loaded: LoadedConfig = load_config(self._flags)
        self._backend: Backend | None = None
        self._engine: CompletionEngine | None = None
        self._candidates: CandidateGenerator | None = None
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
        if rebuild_backend and self._backend is not None:
            self._retire_backend()
        self._engine = self._candidates = None  # the engine holds the config: renew it
        if roots is not None or rebuild_backend:
            self.context.set_roots(new_roots, loaded.config)
        self._describe()
        return changed

    def _retire_backend(self) -> None:
        old, self._backend = self._backend, None
        if old is not None:
            import asyncio

            async def close() -> None:
                try:
                    await old.aclose()
                except Exception:
                    log.exception("closing the old backend failed")

            # Without a running loop (tests) nothing can be running on the backend either.
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().create_task(close())

    # -- the core objects -----------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend, created on first use (ConfigError for an unknown backend name)."""
        if self._backend is None:
            self._backend = self._backend_factory(self.config)
        return self._backend

    @property
    def engine(self) -> CompletionEngine:
        if self._engine is None:
            self._engine = CompletionEngine(self.backend, self.config,
                                            context_provider=self.context,
                                            quick_first=self.config.lsp.quick_first)
        return self._engine

    def engine_if_built(self) -> CompletionEngine | None:
        """The engine when one exists (statistics must not create a backend)."""
        return self._engine

    async def warm_up(self) -> bool:
        """Load or reach the model now rather than on the first keystroke; report the state
        (the caller reports ``loading`` before)."""
        try:
            health = await self.backend.health()
        except Exception as exc:  # health() should not raise; a buggy backend still must not
            log.exception("health check failed")
            self.status.error(str(exc))
            return False
        if health.status in (HealthStatus.READY, HealthStatus.SLOW):
            try:
                await self.engine.fim_format()
            except Exception as exc:
                log.warning("cannot detect the FIM format: %s", exc)
                self.status.error(str(exc))
                return False
            self.status.ready(health.detail or "ready")
            return True
        self.status.error(health.detail or health.status.value)
        return False

    def typed_ahead(self, document: Document, position: Position) -> bool:
        """True when the engine can answer at once: the user is typing through a suggestion
        it showed (its typed-ahead cache), so there is nothing to debounce."""
        cached = getattr(self.engine, "cached", None)
        if not callable(cached):
            return False
        try:
            return cached(document, position) is not None
        except Exception:  # a cache probe must never fail a completion
            log.debug("typed-ahead probe failed", exc_info=True)
            return False

    async def complete(
        self,
        document: Document,
        position: Position,
        *,
        n: int = 1,
        mode: CompletionMode = CompletionMode.AUTO,
    ) -> list[Completion] | None:
        """Up to ``n`` completions at ``position`` (one engine call when ``n`` is 1); None when
        the engine reports the request superseded by a newer one for the same document."""
        if n <= 1:
            completion = await self.engine.complete(document, position, mode=mode)
            if completion.finish_reason == "superseded":
                return None
            return [completion] if completion.text.strip() else []
        if self._candidates is None or self._candidates.engine is not self.engine:
            self._candidates = CandidateGenerator(self.engine)
        return await self._candidates.candidates(document, position, n, mode=mode)

    async def aclose(self) -> None:
        backend, self._backend = self._backend, None
        self._engine = self._candidates = None
        if backend is not None:
            await backend.aclose()
