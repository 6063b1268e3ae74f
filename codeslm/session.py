"""The composition root: the one place that builds the object graph of a use of codeslm.

Every surface (each CLI command, the language server, the evaluations, the benchmarks) calls
:func:`open_session` and takes what it needs from the :class:`Session`; nothing else constructs
backends or completion engines. A session holds:

- the config it was opened with (:attr:`Session.config`);
- the backend, created through the registry on first use (so a command that fails before it
  needs the model never loads one, and the language server's statistics never create one);
- the cross-file context provider: one passed in (the language server's router), or a
  workspace index opened at ``root``, or none;
- the completion engine over both, created on first use, and further engines sharing the
  backend when a surface needs another context per request (:meth:`Session.engine_with`);
- the typing engine for suggestions made while the user types: the engine itself, or with
  ``completion.fast_model`` set to another model, an engine over a second backend serving that
  model (:attr:`Session.typing_engine`, :func:`config_for_use`);
- the candidate generator for explicit requests, the scheduler (the one owner of superseding
  and cancellation) and the one :class:`~codeslm.completion.stats.CompletionStats` they all
  count into.

:meth:`Session.aclose` closes the backend and the provider the session opened (a provider
passed in belongs to its caller). :meth:`Session.reconfigure` renews the engine for a new
config, replacing the backend only when asked (the language server's settings changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from .backends import BackendFactory, create_backend
from .backends.base import Backend
from .candidates import CandidateGenerator
from .completion.scheduler import Scheduler
from .completion.stats import CompletionStats
from .config import Config
from .context.port import ContextProvider
from .engine import CompletionEngine

if TYPE_CHECKING:
    from .context import WorkspaceProvider

log = logging.getLogger(__name__)

__all__ = ["BackendFactory", "Session", "config_for_use", "open_session"]


class Session:
    """Backend, context provider, engine, candidates, scheduler and stats of one use; see the
    module docstring. Use it from one event loop; ``async with`` closes it."""

    def __init__(
        self,
        config: Config,
        *,
        context: ContextProvider | None = None,
        owns_context: bool = False,
        backend_factory: BackendFactory = create_backend,
        quick_first: bool = False,
    ) -> None:
        self.config = config
        self.context = context
        self._owns_context = owns_context
        self._backend_factory = backend_factory
        self.quick_first = quick_first
        self.stats = CompletionStats()
        self.scheduler = Scheduler(self.stats)
        self._backend: Backend | None = None
        self._engine: CompletionEngine | None = None
        self._typing_backend: Backend | None = None
        self._typing_model = ""  # what the typing backend serves
        self._typing_engine: CompletionEngine | None = None
        self._candidates: CandidateGenerator | None = None

    # -- the objects ------------------------------------------------------------------------

    @property
    def backend(self) -> Backend:
        """The backend, created on first use (ConfigError for an unknown backend name)."""
        if self._backend is None:
            self._backend = self._backend_factory(self.config)
        return self._backend

    def backend_if_built(self) -> Backend | None:
        """The backend when one exists (closing or statistics must not create one)."""
        return self._backend

    @property
    def engine(self) -> CompletionEngine:
        """The completion engine over the backend and the session's context provider."""
        if self._engine is None:
            self._engine = self.engine_with(self.context, quick_first=self.quick_first)
        return self._engine

    def engine_if_built(self) -> CompletionEngine | None:
        """The engine when one exists."""
        return self._engine

    def engine_with(
        self, context: ContextProvider | None, *, quick_first: bool = False
    ) -> CompletionEngine:
        """A further engine on the same backend and stats with another context provider (an
        evaluation comparing context modes builds one per mode)."""
        return self._new_engine(self.backend, self.config, context, quick_first)

    def _new_engine(
        self, backend: Backend, config: Config, context: ContextProvider | None, quick_first: bool
    ) -> CompletionEngine:
        return CompletionEngine(
            backend, config, context_provider=context, quick_first=quick_first, stats=self.stats
        )

    @property
    def typing_engine(self) -> CompletionEngine:
        """The engine for suggestions while the user types: :attr:`engine`, unless
        ``completion.fast_model`` names another model, which a second backend then serves
        (created on first use, like the first; the same context provider and stats)."""
        if self._typing_engine is not None:
            return self._typing_engine
        typing_config = config_for_use(self.config, automatic=True)
        if typing_config is self.config:
            return self.engine
        if self._typing_backend is None:
            self._typing_backend = self._backend_factory(typing_config)
            self._typing_model = typing_config.model
        self._typing_engine = self._new_engine(
            self._typing_backend, typing_config, self.context, self.quick_first
        )
        return self._typing_engine

    def engines_if_built(self) -> list[CompletionEngine]:
        """The engines that exist (the engine, and the typing engine when it is another)."""
        return [e for e in (self._engine, self._typing_engine) if e is not None]

    @property
    def candidates(self) -> CandidateGenerator:
        """Several distinct completions at one cursor, with the session's engine."""
        if self._candidates is None or self._candidates.engine is not self.engine:
            self._candidates = CandidateGenerator(self.engine)
        return self._candidates

    @property
    def workspace(self) -> WorkspaceProvider | None:
        """The context provider when it is a workspace index (``codeslm context`` reports its
        last choice), else None."""
        from .context import WorkspaceProvider

        return self.context if isinstance(self.context, WorkspaceProvider) else None

    # -- life cycle -------------------------------------------------------------------------

    def reconfigure(
        self, config: Config, *, new_backend: bool, quick_first: bool | None = None
    ) -> None:
        """Use ``config`` from now on: the engine (which holds the config) is renewed on next
        use; with ``new_backend`` the backend too, the old one being closed in the background
        (a running loop is needed for that; without one nothing can be using it). The stats
        and the scheduler go on. The typing engine's backend is replaced too when the model
        it serves changes (``completion.fast_model``)."""
        self.config = config
        if quick_first is not None:
            self.quick_first = quick_first
        self._engine = self._candidates = self._typing_engine = None
        if new_backend and self._backend is not None:
            _close_later(self._backend)
            self._backend = None
        if self._typing_backend is not None and (
            new_backend or config_for_use(config, automatic=True).model != self._typing_model
        ):
            _close_later(self._typing_backend)
            self._typing_backend = None

    async def aclose(self) -> None:
        """Close the backend and the context provider this session opened."""
        for engine in self.engines_if_built():
            engine.stop_warming(waiting_too=True)  # background work on a backend closing now
        backends = [b for b in (self._backend, self._typing_backend) if b is not None]
        self._backend = self._typing_backend = None
        self._engine = self._candidates = self._typing_engine = None
        try:
            for backend in backends:
                await backend.aclose()
        finally:
            if self._owns_context:
                context, self.context = self.context, None
                close = getattr(context, "close", None)
                if callable(close):
                    close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def open_session(
    config: Config,
    root: str | Path | None = None,
    *,
    context: ContextProvider | None = None,
    backend_factory: BackendFactory = create_backend,
    quick_first: bool = False,
) -> Session:
    """The session for ``config``.

    The context provider is ``context`` when given (its owner closes it), else the workspace
    index at ``root`` (loaded and brought up to date; the session closes it) when ``root`` is
    given and ``context.enabled`` is on, else none. ``quick_first`` turns on the quick first
    window at a new place (the language server's setting). Nothing is loaded yet: the backend
    comes on first use.
    """
    owns = False
    if context is None and root is not None and config.context.enabled:
        from .context import WorkspaceProvider

        context = WorkspaceProvider.open(root, config, refresh="now")
        owns = True
    return Session(
        config,
        context=context,
        owns_context=owns,
        backend_factory=backend_factory,
        quick_first=quick_first,
    )


def config_for_use(config: Config, *, automatic: bool) -> Config:
    """The config whose ``model`` should serve a completion request.

    Automatic completions (while typing) use ``completion.fast_model`` when it is set, so a
    small fast model can answer keystrokes while the top-level ``model`` (a stronger one)
    answers completions the user asks for, generation and refactors. The returned config is
    ``config`` itself when nothing changes.
    """
    fast = config.completion.fast_model.strip()
    if not automatic or not fast or fast == config.model:
        return config
    return dataclasses.replace(config, model=fast)


def _close_later(backend: Backend) -> None:
    async def close() -> None:
        try:
            await backend.aclose()
        except Exception:
            log.exception("closing the old backend failed")

    with contextlib.suppress(RuntimeError):
        asyncio.get_running_loop().create_task(close())
