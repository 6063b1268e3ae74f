"""The base model of a tune: its Hugging Face folder (what torch trains) and its identity.

The identity is the SHA-256 of the GGUF that llama.cpp will load the adapter onto
(:mod:`.store`). Accepted forms:

- a known model name (``qwen2.5-coder-0.5b``): its verified GGUF, converted once into the
  Hugging Face folder that :mod:`codeslm.runtime.models.hf_form` keeps;
- a ``.gguf`` file: converted the same way into ``<models dir>/hf/<stem>-<sha>``;
- a Hugging Face folder or hub id, with ``gguf`` naming the GGUF it is served as (a folder
  that codeslm converted names its GGUF itself).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import InputError, ModelNotFound
from ..runtime.models import hf_form
from ..runtime.models.registry import find_spec
from ..runtime.models.resolve import resolve
from . import store

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BaseModel:
    """A base model ready to train: ``folder`` (Hugging Face form), ``sha256`` (identity),
    ``name`` (as the user gave it) and the GGUF path when known."""

    name: str
    folder: Path
    sha256: str
    gguf: Path | None


def resolve_base(value: str, *, gguf: str | None = None, log: Log | None = None) -> BaseModel:
    """The base model ``value`` (see the module docstring); ModelNotFound or InputError with
    a one-line reason when it cannot be had."""
    say = log or (lambda _line: None)
    if find_spec(value) is not None:
        folder = hf_form.convert(value, Path(sys.executable), log=say)
        marker = json.loads((folder / hf_form.MARKER).read_text())
        path = resolve(value, fetch=True, log=say).path
        return BaseModel(value, folder, str(marker["source_sha256"]), path)
    candidate = Path(value).expanduser()
    if candidate.is_file() and candidate.suffix == ".gguf":
        return _from_gguf(candidate, say)
    if candidate.is_dir():
        folder = candidate
    elif hf_form.is_hub_id(value):
        folder = hf_form.from_hub(value, log=say)
    else:
        raise ModelNotFound(
            f"base model {value!r}: not a known model, GGUF file or folder",
            hint="codeslm models list shows the known models",
        )
    marker_file = folder / hf_form.MARKER
    if gguf:
        served = Path(gguf).expanduser()
        if not served.is_file():
            raise InputError(f"--gguf {gguf}: no such file")
        return BaseModel(value, folder, store.gguf_sha256(served), served)
    if marker_file.is_file():
        marker = json.loads(marker_file.read_text())
        return BaseModel(value, folder, str(marker["source_sha256"]), None)
    raise InputError(
        f"base model {value}: which GGUF will serve the adapter is unknown",
        hint="pass --gguf FILE (the adapter is applied to that exact file), or tune a GGUF",
    )


def _from_gguf(path: Path, say: Log) -> BaseModel:
    """Convert a GGUF file (once) into a Hugging Face folder beside the known models'."""
    sha = store.gguf_sha256(path)
    target = paths.models_dir() / "hf" / f"{path.stem}-{sha[:12]}"
    if (target / hf_form.MARKER).is_file():
        return BaseModel(str(path), target, sha, path)
    from ..runtime.models import hf_convert

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.converting-", dir=target.parent))
    try:
        say(f"converting {path.name} to a Hugging Face folder for training (once)")
        hf_convert.convert(path, staging / "model")
        info = {"source": path.name, "source_sha256": sha, "dtype": "bfloat16"}
        (staging / "model" / hf_form.MARKER).write_text(json.dumps(info))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BaseModel(str(path), target, sha, path)
