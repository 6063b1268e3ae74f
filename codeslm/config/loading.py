"""Loading the configuration: TOML files, ``CODESLM_*`` variables and flags as layers of
dotted keys, validated and coerced to the schema's types, merged lowest precedence first."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..fileio import FileMissing, read_limited
from .schema import _SECTIONS, KEYS, Config

DEFAULT_SOURCE = "default"


@dataclass(slots=True)
class LoadedConfig:
    """A config plus, for every dotted key, where its value came from."""

    config: Config
    sources: dict[str, str]
    files: list[Path]


def _coerce(key: str, value: Any, origin: str) -> Any:
    """Convert ``value`` to the type of ``key``'s default; raise ConfigError naming the origin."""
    default = KEYS[key]
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
                return True
            if isinstance(value, str) and value.lower() in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if isinstance(default, list):
            if isinstance(value, str):
                return [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError
        if isinstance(default, str):
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError
            return str(value)
    except (TypeError, ValueError):
        kind = {
            bool: "true or false",
            int: "an integer",
            float: "a number",
            list: "a list of strings",
            str: "a string",
        }[type(default)]
        raise ConfigError(f"{origin}: {key} must be {kind}, got {value!r}") from None
    return value


def _unknown_key(key: str, origin: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(KEYS), n=1)
    hint = f"did you mean {close[0]}?" if close else "run `codeslm config show` for the known keys"
    return ConfigError(f"{origin}: unknown config key {key!r}", hint=hint)


def flatten(table: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Flatten a TOML table into dotted keys, validating names and types."""
    flat: dict[str, Any] = {}
    for name, value in table.items():
        if name == "actions":  # [[actions]]: user-defined actions, read by codeslm.actions.user
            continue
        if name in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{origin}: [{name}] must be a table")
            for sub, subvalue in value.items():
                key = f"{name}.{sub}"
                if key not in KEYS:
                    raise _unknown_key(key, origin)
                flat[key] = _coerce(key, subvalue, origin)
        elif name in KEYS:
            flat[name] = _coerce(name, value, origin)
        else:
            raise _unknown_key(name, origin)
    return flat


def read_toml(path: Path, *, table: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a TOML file (optionally one nested table of it) as flat dotted keys."""
    try:
        # Bounded, regular files only: CODESLM_CONFIG=/dev/zero must not read forever.
        data: Any = tomllib.loads(read_limited(path, _CONFIG_LIMIT).decode("utf-8"))
    except FileMissing:
        return {}
    except InputError as exc:
        raise ConfigError(str(exc)) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for name in table:
        data = data.get(name, {}) if isinstance(data, dict) else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: [{'.'.join(table)}] must be a table")
    return flatten(data, str(path))


def find_project_files(start: Path) -> list[tuple[Path, tuple[str, ...]]]:
    """The project config files that apply at ``start``: the nearest directory that has one.

    Returns ``(path, table)`` pairs, lowest precedence first.
    """
    current = start.resolve()
    for directory in [current, *current.parents]:
        found: list[tuple[Path, tuple[str, ...]]] = []
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and _has_tool_table(pyproject):
            found.append((pyproject, ("tool", "codeslm")))
        dotfile = directory / ".codeslm.toml"
        if dotfile.is_file():
            found.append((dotfile, ()))
        if found:
            return found
        if (directory / ".git").exists():
            break
    return []


def _has_tool_table(pyproject: Path) -> bool:
    try:
        data = tomllib.loads(read_limited(pyproject, _CONFIG_LIMIT).decode("utf-8"))
    except (InputError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return isinstance(data.get("tool"), dict) and "codeslm" in data["tool"]


_CONFIG_LIMIT = 1_000_000  # bytes; no configuration (or pyproject.toml) is anywhere near this

_NOT_CONFIG_ENV = {
    "CODESLM_HOME",
    "CODESLM_CONFIG",
    "CODESLM_LOG",
    "CODESLM_TEST_MODEL",
    "CODESLM_RUNTIME_DIR",
}


def env_layer(environ: Mapping[str, str]) -> dict[str, Any]:
    """``CODESLM_*`` variables as dotted keys. Unknown variables are ignored."""
    flat: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith("CODESLM_") or name in _NOT_CONFIG_ENV:
            continue
        rest = name[len("CODESLM_") :].lower()
        key = _env_key(rest)
        if key is not None:
            flat[key] = _coerce(key, value, f"environment variable {name}")
    return flat


def _env_key(rest: str) -> str | None:
    if "__" in rest:
        section, _, sub = rest.partition("__")
        key = f"{section}.{sub}"
        return key if key in KEYS else None
    if rest in KEYS:
        return rest
    for section in _SECTIONS:
        if rest.startswith(section + "_"):
            key = f"{section}.{rest[len(section) + 1 :]}"
            if key in KEYS:
                return key
    return None


def build(layers: list[tuple[str, Mapping[str, Any]]]) -> tuple[Config, dict[str, str]]:
    """Apply flat layers (lowest precedence first) to the defaults. Pure."""
    config = Config()
    sources = dict.fromkeys(KEYS, DEFAULT_SOURCE)
    for origin, layer in layers:
        for key, value in layer.items():
            if key not in KEYS:
                raise _unknown_key(key, origin)
            value = _coerce(key, value, origin)
            if "." in key:
                section, sub = key.split(".", 1)
                setattr(getattr(config, section), sub, value)
            else:
                setattr(config, key, value)
            sources[key] = origin
    return config, sources


def load_config(
    flags: Mapping[str, Any] | None = None,
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    extra_layers: list[tuple[str, Mapping[str, Any]]] | None = None,
) -> LoadedConfig:
    """Read every source and return the merged config with per-key origins.

    ``flags`` are dotted keys given on the command line (``None`` values are skipped);
    ``extra_layers`` go above them (the language server's settings).
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    layers: list[tuple[str, Mapping[str, Any]]] = []
    files: list[Path] = []
    from .. import paths
    from . import machine_fit

    fit = machine_fit.layer()  # the doctor's choice for this machine, below every file
    if fit is not None:
        layers.append(fit)

    user = paths.config_file()
    user_layer = read_toml(user)
    if user_layer or user.is_file():
        files.append(user)
    layers.append((str(user), user_layer))
    for path, table in find_project_files(cwd):
        files.append(path)
        origin = f"{path} [tool.codeslm]" if table else str(path)
        layers.append((origin, read_toml(path, table=table)))
    layers.append(("environment", env_layer(environ)))
    if flags:
        layers.append(("command line", {k: v for k, v in flags.items() if v is not None}))
    layers.extend(extra_layers or [])
    config, sources = build(layers)
    return LoadedConfig(config, sources, files)
