"""Typed configuration, merged from layered sources with the origin of every value kept.

Precedence, lowest first: built-in defaults < the model ``codeslm doctor`` chose for this machine
(:mod:`.machine_fit`) < user file (``~/.config/codeslm/config.toml``,
``$CODESLM_HOME/config.toml`` or ``$CODESLM_CONFIG``) < project file (the nearest
``pyproject.toml`` ``[tool.codeslm]`` or ``.codeslm.toml`` walking up from the working
directory; ``.codeslm.toml`` wins in the same directory) < ``CODESLM_*`` environment variables
< command-line flags (< language server settings, applied by the server as one more layer).

Keys are dotted: top-level keys (``model``, ``backend``...) and ``section.key``. Environment
variables are ``CODESLM_<KEY>`` for top-level keys and ``CODESLM_<SECTION>_<KEY>`` (or with a
double underscore) for section keys, e.g. ``CODESLM_COMPLETION_MAX_TOKENS=32``.

The schema is :mod:`.schema`, reading and merging the layers :mod:`.loading`; this package's
namespace is the API (``from codeslm.config import Config, load_config``).
"""

from __future__ import annotations

from .loading import (
    DEFAULT_SOURCE,
    LoadedConfig,
    build,
    env_layer,
    find_project_files,
    flatten,
    load_config,
    read_toml,
)
from .schema import (
    KEYS,
    CompletionConfig,
    Config,
    ContextConfig,
    DaemonConfig,
    GenConfig,
    GitConfig,
    LspConfig,
    ServeConfig,
    as_flat_dict,
    effective_threads,
)

__all__ = [
    "DEFAULT_SOURCE",
    "KEYS",
    "CompletionConfig",
    "Config",
    "ContextConfig",
    "DaemonConfig",
    "GenConfig",
    "GitConfig",
    "LoadedConfig",
    "LspConfig",
    "ServeConfig",
    "as_flat_dict",
    "build",
    "effective_threads",
    "env_layer",
    "find_project_files",
    "flatten",
    "load_config",
    "read_toml",
]
