"""Commit messages written before ``git commit`` runs, kept under the repository's git dir.

The prepare-commit-msg hook has to show a message at once, but evaluating its prompt takes
seconds on a CPU. A producer (the language server when the index settles, or ``codeslm
commit-msg --prepare``) writes the message early and stores it here; the hook looks it up and
calls no model when it is found.

**Key.** A SHA-256 over everything that decides what the hook would send and how the answer is
made: this store's format, codeslm's version, the commit HEAD points at (the diff's base and
the history the style is learnt from), the comment character, the prompt template's text, the
model identity and the settings that shape the prompt or the generation (:data:`KEY_SETTINGS`),
and the staged change exactly as :func:`~codeslm.git.changes.collect` renders it (each file's
scrubbed patch and stat line, the withheld files with their reasons, the notes). Change any of
them and the key changes: a stale message is a miss, never a hit.

**Store.** ``<git dir>/codeslm/prepared/<key>.json`` (``git rev-parse --git-path``, so each
worktree has its own, like its index). Entries are written whole (a temporary file renamed into
place), at most :data:`KEEP` are kept (the oldest are deleted), and an entry that cannot be
read, does not parse or names another key is treated as absent; nothing here raises for a
broken file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Config, as_flat_dict
from ..errors import InputError
from ..fileio import atomic_write, read_text_if_exists
from ..templates import read_resource
from .changes import ChangeSet
from .repo import GitRepo

log = logging.getLogger(__name__)

FORMAT = 1
KEEP = 8  # entries kept per repository (a few stagings back is plenty)
_MAX_ENTRY_BYTES = 256 * 1024  # a message entry is a few hundred bytes; more is not ours
_TEMPLATE = "commit_message.md"
# Settings that change the hook's prompt or its answer (the staged change covers the filters).
KEY_SETTINGS = (
    "model",
    "backend",
    "url",
    "n_ctx",
    "completion.adapter",
    "git.hook_max_diff_tokens",
    "git.max_diff_tokens",
    "git.message_max_tokens",
    "git.exclude",
    "context.secret_patterns",
    "context.redact_patterns",
)


@dataclass(slots=True)
class Prepared:
    """A stored message: what the hook writes, and how it was made (for its comment line)."""

    key: str
    message: str
    notes: list[str] = field(default_factory=list)
    strategy: str = ""
    model: str = ""
    elapsed_s: float = 0.0
    created: float = 0.0
    format: int = FORMAT


def changes_text(changes: ChangeSet) -> str:
    """The staged change as the prompt can see it: patches, stat lines, withheld files, notes."""
    parts = [f"{f.stat()}\n{f.text()}" for f in changes.files]
    parts += [f"{w.file.stat()} [{w.reason}]" for w in changes.withheld]
    parts += changes.notes()
    return "\0".join(parts)


def _model_identity(model: str) -> list[Any]:
    """The model setting plus, for a model file, its size and modification time (a file
    replaced under the same name is another model)."""
    path = Path(model).expanduser()
    if model.endswith(".gguf") and path.is_file():
        st = path.stat()
        return [str(path.resolve()), st.st_size, st.st_mtime_ns]
    return [model]


def key_for(head: str | None, changes: ChangeSet, config: Config, *, comment_char: str) -> str:
    """The key of the hook's message for ``changes`` staged on ``head`` (see the module)."""
    flat = as_flat_dict(config)
    document = {
        "format": FORMAT,
        "codeslm": __version__,
        "head": head or "unborn",
        "comment_char": comment_char,
        "template": read_resource(_TEMPLATE),
        "model": _model_identity(config.model),
        "settings": {k: flat[k] for k in KEY_SETTINGS},
        "target": changes.target,
        "changes": changes_text(changes),
    }
    blob = json.dumps(document, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class Store:
    """The prepared messages of one repository (see the module docstring)."""

    def __init__(self, directory: Path, *, keep: int = KEEP) -> None:
        self.directory = directory
        self.keep = keep

    @classmethod
    def of(cls, repo: GitRepo) -> Store:
        """The store under ``repo``'s git dir (its worktree's own, for a linked worktree)."""
        return cls(repo.git_path("codeslm/prepared"))

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str) -> Prepared | None:
        """The entry for ``key``, or None when there is none or it is unusable."""
        if not key.isalnum():
            return None
        path = self.path(key)
        try:
            if path.stat().st_size > _MAX_ENTRY_BYTES:
                return None
            data = json.loads(read_text_if_exists(path) or "null")
        except (OSError, ValueError, InputError) as exc:  # not ours, or half a file
            log.debug("prepared message %s unreadable: %s", path.name, exc)
            return None
        return _entry(data, key)

    def put(self, entry: Prepared) -> Path:
        """Store ``entry`` (replacing one with the same key) and prune; returns its path.

        OSError or InputError when the directory cannot be written (the caller decides).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(entry.key)
        text = json.dumps(asdict(entry), ensure_ascii=False, indent=1) + "\n"
        try:
            atomic_write(path, text, expected_old=read_text_if_exists(path))
        except InputError:
            if self.get(entry.key) is None:
                raise
            # Another producer stored this key meanwhile: the same change, the same prompt.
        self.prune()
        return path

    def prune(self) -> None:
        """Delete all but the :attr:`keep` newest entries (and stray temporary files)."""
        try:
            found = [
                (p.stat().st_mtime_ns, p)
                for p in self.directory.iterdir()
                if p.suffix == ".json" and p.is_file()
            ]
        except OSError:
            return
        found.sort(reverse=True)
        for _, stale in found[self.keep :]:
            with contextlib.suppress(OSError):
                stale.unlink()


def _entry(data: Any, key: str) -> Prepared | None:
    """A :class:`Prepared` from parsed JSON when it is well formed and for ``key``."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != key:
        return None
    message = data.get("message")
    notes = data.get("notes", [])
    if not isinstance(message, str) or not message.strip():
        return None
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        return None
    try:
        return Prepared(
            key=key,
            message=message,
            notes=notes,
            strategy=str(data.get("strategy", "")),
            model=str(data.get("model", "")),
            elapsed_s=float(data.get("elapsed_s", 0.0)),
            created=float(data.get("created", 0.0)),
        )
    except (TypeError, ValueError):
        return None


def new_entry(
    key: str, message: str, notes: list[str], *, strategy: str, model: str, elapsed_s: float
) -> Prepared:
    """An entry made now."""
    return Prepared(key, message, list(notes), strategy, model, round(elapsed_s, 3), time.time())
