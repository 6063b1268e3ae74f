"""Backend registry: a backend name in the config -> a :class:`Backend` instance.

Built-in backends are imported lazily, so choosing an HTTP backend never loads llama.cpp.
Third-party backends register through the ``codeslm.backends`` entry-point group; each entry
point names a factory ``(config) -> Backend``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from ..config import Config
from ..errors import ConfigError
from .base import Backend, GenerationResult

BackendFactory = Callable[[Config], Backend]

# name -> "module:attribute" of a factory taking the config.
_BUILTIN: dict[str, str] = {
    "llama-cpp": "codeslm.backends:local_backend",
    "embedded": "codeslm.backends.llamacpp:LlamaCppBackend",
    "fake": "codeslm.backends.fake:FakeBackend.from_config",
    "openai-compatible": "codeslm.backends.openai_compat:OpenAICompatBackend",
    "vllm": "codeslm.backends.vllm:VllmBackend",
    "llama-server": "codeslm.backends.llama_server:LlamaServerBackend",
    "ollama": "codeslm.backends.ollama:OllamaBackend",
}

_registered: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register ``factory`` under ``name``; a name can be registered once."""
    if name in _registered or name in _BUILTIN:
        raise ValueError(f"backend {name!r} is already registered")
    _registered[name] = factory


def register_builtin(name: str, target: str) -> None:
    """Add a lazily imported built-in backend (``module:attribute``); used by later modules."""
    _BUILTIN.setdefault(name, target)


def backend_names() -> list[str]:
    """Every backend name that can be configured."""
    names = set(_BUILTIN) | set(_registered)
    names |= {ep.name for ep in entry_points(group="codeslm.backends")}
    return sorted(names)


def _load_target(target: str) -> BackendFactory:
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[return-value]


def _uses_daemon(config: Config) -> bool:
    """Whether the ``llama-cpp`` backend reaches the shared daemon for ``config``: the platform
    has one and ``[daemon] enabled`` is on."""
    from .daemon import runtime

    return config.daemon.enabled and runtime.supported()


def local_backend(config: Config) -> Backend:
    """The ``llama-cpp`` backend: the user's shared model daemon where :func:`_uses_daemon`,
    else llama.cpp in this process."""
    if _uses_daemon(config):
        from .daemon.client import DaemonBackend

        return DaemonBackend(config)
    from .llamacpp import LlamaCppBackend

    return LlamaCppBackend(config)


def prestart(config: Config) -> bool:
    """Begin loading ``config``'s model in the background when :func:`local_backend` would
    reach the shared daemon and none serves the model yet; True when a start was begun.
    Returns at once and never raises (see ``daemon.client.start_in_background``)."""
    if config.backend != "llama-cpp" or not _uses_daemon(config):
        return False
    from .daemon.client import start_in_background

    return start_in_background(config)


def create_backend(config: Config) -> Backend:
    """Instantiate the backend named by ``config.backend``."""
    name = config.backend
    if name in _registered:
        return _registered[name](config)
    if name in _BUILTIN:
        return _load_target(_BUILTIN[name])(config)
    for ep in entry_points(group="codeslm.backends"):
        if ep.name == name:
            factory: BackendFactory = ep.load()
            return factory(config)
    raise ConfigError(
        f"unknown backend {name!r}", hint=f"choose one of: {', '.join(backend_names())}"
    )


__all__ = [
    "Backend",
    "BackendFactory",
    "GenerationResult",
    "backend_names",
    "create_backend",
    "register_backend",
]
