"""Where codeslm keeps its files.

``CODESLM_HOME`` (when set) holds everything: ``config.toml``, ``models/``, ``index/`` and
``logs/``. Otherwise the platform's directories are used (``~/.config/codeslm``,
``~/.cache/codeslm`` and ``~/.local/share/codeslm`` on Linux).
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "codeslm"


def _home() -> Path | None:
    value = os.environ.get("CODESLM_HOME")
    return Path(value).expanduser() if value else None


def config_file() -> Path:
    """The user config file (it may not exist). ``CODESLM_CONFIG`` pins another file."""
    pinned = os.environ.get("CODESLM_CONFIG")
    if pinned:
        return Path(pinned).expanduser()
    home = _home()
    if home is not None:
        return home / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def models_dir() -> Path:
    """The directory of verified model files (created on demand by the caller)."""
    home = _home()
    if home is not None:
        return home / "models"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP)) / "models"


def kv_dir() -> Path:
    """Directory of KV caches kept on disk (:mod:`codeslm.backends.kvheads`), per model."""
    home = _home()
    if home is not None:
        return home / "kv"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP)) / "kv"


def data_dir() -> Path:
    """Directory for persistent state such as the workspace index databases."""
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def log_dir() -> Path:
    """Directory for log files (server logs, managed vLLM output)."""
    home = _home()
    if home is not None:
        return home / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP))
