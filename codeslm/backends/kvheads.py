"""Prompt heads kept on disk: the KV cache of a chat prompt's fixed start, across processes.

Some chat prompts start the same way every time: the commit message's instruction, the
repository's style and a worked example make ~230 of a hook's ~310 prompt tokens. In a model
that is already loaded the in-memory cache keeps them, but the git hook often meets a cold
model (the daemon stopped after its idle time, or never started), and then evaluates that head
again: about 2.2 s of the 1.5B model's prefill on two cores, more than a third of the hook.

A request marks such a head with ``GenerationRequest.keep_head`` (the messages before the last
one recur). The first process that evaluates the head cold copies sequence 0's cache out
(``llama_state_seq_get_data``, ~28 KB per token of the 1.5B) and writes it here; a later
process loads it (a few ms) instead of evaluating it. This is llama.cpp's prompt-cache file,
made per head rather than per prompt, so that one file serves every commit of a repository.

Files live under ``<kv dir>/<model key>/<sha256 of the head's tokens>.kv``. The model key
covers what the cached values depend on: the model file (path, size, modification time), the
LoRA adapter and llama.cpp's version. A file whose checksum does not match is deleted and the
head is evaluated as usual; at most ``limit`` files are kept per model (least recently used
go first). Only the backend's worker thread uses a store.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import logging
import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..fileio import replace_file
from .kvstash import copy_in, copy_out

MIN_HEAD_TOKENS = 64  # shorter heads are cheap to evaluate: not worth a file
_MAGIC = b"codeslm-kv-head 1\n"
_LENGTH = struct.Struct("<Q")
log = logging.getLogger(__name__)


def model_key(model_path: str, lora_path: str | None, version: str) -> str:
    """A short name for what a cached head's values depend on (see the module docstring)."""
    parts = [version, lora_path or ""]
    for path in (model_path, lora_path):
        if path:
            try:
                stat = os.stat(path)
            except OSError:
                continue
            parts += [os.path.abspath(path), str(stat.st_size), str(stat.st_mtime_ns)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class HeadStore:
    """The heads of one loaded model. ``root`` is created on first save (mode 0700)."""

    def __init__(self, root: Path, key: str, *, limit: int = 16) -> None:
        self.folder = root / key
        self.limit = max(0, limit)
        self.loads = 0  # heads read instead of evaluated (doctor, benchmarks)
        self.saves = 0

    def path_for(self, head: Sequence[int]) -> Path:
        data = b"".join(struct.pack("<i", t) for t in head)
        return self.folder / f"{hashlib.sha256(data).hexdigest()[:32]}.kv"

    def load(self, llm: Any, head: Sequence[int]) -> bool:
        """Put the stored cache of ``head`` into sequence 0 of ``llm``; False when there is
        none (or it is damaged, or llama.cpp refuses it: sequence 0 is then empty)."""
        if not self.limit or len(head) < MIN_HEAD_TOKENS:
            return False
        path = self.path_for(head)
        try:
            raw = path.read_bytes()
        except OSError:
            return False
        state = _parse(raw, head)
        if state is None:
            log.info("kv head %s is damaged or stale: removed", path.name)
            with contextlib.suppress(OSError):
                path.unlink()
            return False
        buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        if not copy_in(llm, buffer, len(state), list(head)):
            return False
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        self.loads += 1
        return True

    def save(self, llm: Any, head: Sequence[int]) -> None:
        """Write sequence 0's cache as the head ``head`` (sequence 0 must hold exactly it).
        A failure (full disk, read-only cache) is logged and leaves no partial file."""
        if not self.limit or len(head) < MIN_HEAD_TOKENS or self.path_for(head).exists():
            return
        copied = copy_out(llm)
        if copied is None:
            return
        state, size = copied
        body = bytes(memoryview(state)[:size])
        header = json.dumps(
            {"tokens": list(head), "sha256": hashlib.sha256(body).hexdigest()}
        ).encode()
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            data = _MAGIC + _LENGTH.pack(len(header)) + header + body
            replace_file(self.path_for(head), data)
            self._prune()
        except OSError as exc:
            log.info("kv head not kept on disk: %s", exc)
            return
        self.saves += 1

    def _prune(self) -> None:
        files = sorted(self.folder.glob("*.kv"), key=_mtime)
        for old in files[: max(0, len(files) - self.limit)]:
            with contextlib.suppress(OSError):
                old.unlink()


def _parse(raw: bytes, head: Sequence[int]) -> bytes | None:
    """The state bytes of a head file, or None unless it is whole and holds ``head``."""
    if not raw.startswith(_MAGIC) or len(raw) < len(_MAGIC) + _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack_from(raw, len(_MAGIC))
    start = len(_MAGIC) + _LENGTH.size
    try:
        header = json.loads(raw[start : start + length])
    except ValueError:
        return None
    body = raw[start + length :]
    if not isinstance(header, dict) or header.get("tokens") != list(head):
        return None
    if header.get("sha256") != hashlib.sha256(body).hexdigest() or not body:
        return None
    return body


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
