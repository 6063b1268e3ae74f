"""Editor settings (``initializationOptions``, ``workspace/didChangeConfiguration``) as one more
config layer above the command line.

Accepted shapes, all meaning the same: ``{"lsp": {"debounce_ms": 100}}``,
``{"codeslm": {"lsp": {"debounceMs": 100}}}`` and ``{"lsp.debounce_ms": 100}``. Keys are the
config keys of ``codeslm config show`` (camelCase is accepted too); ``null`` values mean "not
set". A bad key or value is reported and skipped; the rest of the settings still apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from codeslm.config import KEYS, flatten
from codeslm.errors import ConfigError

ORIGIN = "editor settings"

# Keys whose change needs a new backend (a model reload or new connections).
BACKEND_KEYS = {
    "model", "backend", "url", "api_key", "n_ctx", "threads", "n_batch", "request_timeout_s",
    "completion.speculative",
}

_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub(lambda m: "_" + m.group(1).lower(), name)


def _unwrap(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        return {}
    inner = raw.get("codeslm")
    if isinstance(inner, Mapping):
        return inner
    return raw


def settings_layer(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Editor settings -> (flat dotted config keys, one-line problems with skipped keys)."""
    flat: dict[str, Any] = {}
    problems: list[str] = []
    sections = {key.split(".", 1)[0] for key in KEYS if "." in key}
    for name, value in _unwrap(raw).items():
        if value is None:
            continue
        key = _snake(str(name))
        if "." in key:  # dotted: lsp.debounce_ms
            section, _, sub = key.partition(".")
            candidates: dict[str, Any] = {section: {_snake(sub): value}}
        elif key in sections and isinstance(value, Mapping):
            candidates = {key: {_snake(str(k)): v for k, v in value.items() if v is not None}}
        else:
            candidates = {key: value}
        for top, sub_value in candidates.items():
            entries = sub_value.items() if isinstance(sub_value, Mapping) and top in sections else [
                (None, sub_value)]
            for sub_key, item in entries:
                table = {top: {sub_key: item}} if sub_key is not None else {top: item}
                try:
                    flat.update(flatten(table, ORIGIN))
                except ConfigError as exc:
                    problems.append(exc.message + (f" ({exc.hint})" if exc.hint else ""))
    return flat, problems


def needs_new_backend(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when a key that shapes the backend differs between two flat configs."""
    return any(old.get(k) != new.get(k) for k in BACKEND_KEYS) or any(
        old.get(k) != new.get(k) for k in new if k.startswith("serve."))


def language_enabled(language: str | None, disabled: list[str]) -> bool:
    """Whether completions and refactors run for ``language`` (``*`` disables all)."""
    if "*" in disabled:
        return False
    return (language or "text") not in {d.lower() for d in disabled}
