"""Where tuned adapters live, what they record, and which one a model load should use.

Layout, under the user cache (``<models dir>/../adapters``)::

    adapters/<repo key>/<base key>/
        adapter_config.json, adapter_model.safetensors   the PEFT adapter (vLLM --enable-lora)
        adapter.gguf                                     the GGUF LoRA (llama.cpp)
        codeslm-adapter.json                             :class:`AdapterInfo`
    adapters/<repo key>/<base key>.work/                 training state (checkpoints, examples)

``<repo key>`` is the repository folder's name plus a hash of its resolved path;
``<base key>`` is the first hex digits of the base model's GGUF SHA-256. A finished adapter
folder is written elsewhere and renamed into place (:func:`publish`), so a crash or a full
disk never leaves a half-written adapter where a model load would find it.

The base model's identity is the SHA-256 of the GGUF llama.cpp loads (for a known model, the
verified file's; for a Hugging Face folder converted by codeslm, the GGUF it came from). An
adapter is applied only to that exact file: :func:`check_base` refuses any other with a
one-line :class:`~codeslm.errors.ModelError`.

This module imports nothing heavy: the llama.cpp backend calls :func:`adapter_for_load`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import ConfigError, ModelError
from ..runtime.models.store import read_marker, sha256_of

INFO = "codeslm-adapter.json"
GGUF_NAME = "adapter.gguf"
PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")
FORMAT = 1


@dataclass(slots=True)
class AdapterInfo:
    """What an adapter records about itself (``codeslm-adapter.json``)."""

    repo_root: str
    base_name: str  # the model name or path it was trained on, as given
    base_sha256: str  # SHA-256 of the base model's GGUF
    held_out: list[str]  # files never trained on (relative paths), for `eval repo`
    train_files: list[str]
    split_seed: int
    held_out_share: float
    examples: int = 0
    teacher_examples: int = 0
    steps: int = 0
    epochs: float = 0.0
    minutes: float = 0.0
    final_loss: float | None = None
    teacher: str = ""
    lora: dict[str, Any] = field(default_factory=dict)  # rank, alpha, target modules
    created: str = ""
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def read(cls, folder: Path) -> AdapterInfo:
        """The info of the adapter in ``folder`` (ModelError if missing or unreadable)."""
        try:
            data = json.loads((folder / INFO).read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            return cls(**known)
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"{folder}: not a codeslm adapter ({exc})") from None


def adapters_dir() -> Path:
    """The root of the adapter cache."""
    return paths.models_dir().parent / "adapters"


def repo_root(start: Path) -> Path:
    """The git work tree containing ``start``, else ``start`` itself (resolved)."""
    start = start.resolve()
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "-C", str(start), "rev-parse", "--show-toplevel"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip()).resolve()
    return start


def repo_key(root: Path) -> str:
    root = root.resolve()
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return f"{root.name or 'root'}-{digest}"


def folder_for(root: Path, base_sha256: str) -> Path:
    """Where the adapter of repository ``root`` for the base model ``base_sha256`` lives."""
    return adapters_dir() / repo_key(root) / base_sha256[:16]


def work_dir_for(root: Path, base_sha256: str) -> Path:
    """Training state (checkpoints, examples) of that adapter."""
    return adapters_dir() / repo_key(root) / f"{base_sha256[:16]}.work"


@functools.lru_cache(maxsize=16)
def _sha_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path))


def gguf_sha256(path: Path) -> str:
    """The SHA-256 of a GGUF: from its verification marker when codeslm fetched it, else
    computed (once per process and file version)."""
    marker = read_marker(path)
    if marker and marker.get("sha256"):
        return str(marker["sha256"])
    st = path.stat()
    return _sha_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


def is_finished(folder: Path) -> bool:
    """Whether ``folder`` holds a whole adapter (info, PEFT files and GGUF)."""
    names = (INFO, GGUF_NAME, *PEFT_FILES)
    return all((folder / n).is_file() for n in names)


def publish(staging: Path, target: Path) -> None:
    """Move the finished adapter in ``staging`` to ``target`` (replacing an older one)."""
    if not is_finished(staging):
        raise ModelError(f"{staging}: the adapter is incomplete; nothing was replaced")
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def check_base(folder: Path, base_sha256: str, base_label: str) -> AdapterInfo:
    """The adapter's info; ModelError when it was trained for another base model."""
    info = AdapterInfo.read(folder)
    if info.base_sha256 != base_sha256:
        raise ModelError(
            f"adapter {folder} was trained for base model {info.base_name} "
            f"(sha256 {info.base_sha256[:12]}), not {base_label} (sha256 {base_sha256[:12]})",
            hint='run codeslm tune again for this model, or set completion.adapter = "none"',
        )
    return info


def resolve_setting(value: str, model_path: Path, *, cwd: Path | None = None) -> Path | None:
    """The GGUF LoRA that ``completion.adapter`` selects for loading ``model_path``, or None.

    ``none`` (or empty): no adapter. ``auto``: the adapter of the repository around ``cwd``
    for this exact base model, when one was tuned (None otherwise). A path: that adapter
    folder or its ``adapter.gguf``, which must have been trained for this base model
    (ModelError otherwise; ConfigError when it does not exist).
    """
    value = (value or "none").strip()
    if value == "none":
        return None
    if value == "auto":
        root = repo_root(cwd or Path.cwd())
        if not (adapters_dir() / repo_key(root)).is_dir():
            return None  # nothing tuned here: no need to hash the model file
        sha = gguf_sha256(model_path)
        folder = folder_for(root, sha)
        if not is_finished(folder):
            return None
        check_base(folder, sha, model_path.name)
        return folder / GGUF_NAME
    sha = gguf_sha256(model_path)
    chosen = Path(value).expanduser()
    folder = chosen.parent if chosen.is_file() else chosen
    if not (folder / INFO).is_file():
        raise ConfigError(
            f"completion.adapter: {value} is not a codeslm adapter",
            hint="use auto, none, or a folder written by codeslm tune",
        )
    check_base(folder, sha, model_path.name)
    gguf = chosen if chosen.is_file() and chosen.suffix == ".gguf" else folder / GGUF_NAME
    if not gguf.is_file():
        raise ConfigError(f"completion.adapter: {folder} has no {GGUF_NAME}")
    return gguf


def describe(value: str, model_path: Path | None, *, cwd: Path | None = None) -> str:
    """One line for ``codeslm doctor``: which adapter a completion here would load."""
    value = (value or "none").strip()
    if value == "none":
        return "none (completion.adapter = none)"
    if model_path is None:
        return f"{value} (no local GGUF model: adapters load with the llama.cpp backend)"
    try:
        found = resolve_setting(value, model_path, cwd=cwd)
    except (ModelError, ConfigError) as exc:
        return f"refused: {exc}"
    if found is None:
        root = repo_root(cwd or Path.cwd())
        return f"none tuned for {root.name} and this model (run: codeslm tune)"
    info = AdapterInfo.read(found.parent)
    return (
        f"{found} ({info.examples} examples, {info.minutes:.0f} min, "
        f"{len(info.held_out)} held-out files)"
    )
