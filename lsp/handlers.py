"""The one place that registers the language server's handlers, and builds the server.

Each feature module (:mod:`.lifecycle`, :mod:`.completions`, :mod:`.actions`, :mod:`.warmup`,
:mod:`.prepared_commit`) has ``register(server)`` and imports :class:`~.server.CodeslmServer`
for its types;
:mod:`.server` knows none of them, so no module of this package imports one that imports it
back. A new feature is a module with ``register(server)`` added to :data:`FEATURES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from codeslm.backends import create_backend

from . import actions, completions, lifecycle, prepared_commit, warmup
from .context import ProviderFactory, default_factory
from .server import CodeslmServer
from .services import BackendFactory

# Registered in this order: the session first (initialize), the background work last.
FEATURES = (lifecycle, completions, actions, warmup, prepared_commit)


def create_server(
    flags: Mapping[str, Any] | None = None,
    *,
    backend_factory: BackendFactory = create_backend,
    context_factory: ProviderFactory = default_factory,
) -> CodeslmServer:
    """A server with every feature registered (flags are dotted config keys)."""
    server = CodeslmServer(flags, backend_factory=backend_factory, context_factory=context_factory)
    for feature in FEATURES:
        feature.register(server)
    return server
