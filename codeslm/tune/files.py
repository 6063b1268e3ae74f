"""The repository's files a tune may learn from, and the split into training and held-out.

A file is used when the workspace index accepts it (``.gitignore`` and ``.codeslmignore``
rules, no secret file names, no binary, generated, minified or non-UTF-8 content: see
:mod:`codeslm.context.walker`), its language has a grammar, git tracks it (in a git
repository: untracked scratch files are not the repository's code), it is not vendored code
(a ``vendor``-like directory), and its content has no private key.

The split is by file and deterministic: a file is held out when the hash of the seed and its
path falls under the held-out share, so the same repository and seed always hold out the
same files (recorded in the adapter, and never trained on).
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..context import languages
from ..context.index import WorkspaceIndex

VENDORED_DIRS = frozenset(
    {
        "vendor",
        "vendored",
        "_vendor",
        "third_party",
        "third-party",
        "thirdparty",
        "external",
        "extern",
        "deps",
        "dist",
        "build",
        "node_modules",
        "site-packages",
    }
)


@dataclass(slots=True)
class FileChoice:
    """The files of a tune: ``train`` and ``held_out`` (relative paths, sorted), and every
    file left out with its reason."""

    train: list[str]
    held_out: list[str]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def used(self) -> list[str]:
        return sorted(self.train + self.held_out)


def tracked_files(root: Path) -> set[str] | None:
    """The files git tracks under ``root`` (relative paths), or None outside a git work tree."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached"],
            capture_output=True,
            timeout=60,
        )
        if out.returncode == 0:
            return {p for p in out.stdout.decode("utf-8", "replace").split("\0") if p}
    return None


def is_vendored(relpath: str) -> bool:
    """Whether a directory of ``relpath`` is one where other projects' code is kept."""
    return any(part.lower() in VENDORED_DIRS for part in relpath.split("/")[:-1])


def held_out(relpath: str, seed: int, share: float) -> bool:
    """Whether ``relpath`` is in the held-out set (a hash of the seed and the path)."""
    digest = hashlib.sha256(f"{seed}\0{relpath}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def choose(index: WorkspaceIndex, *, seed: int = 0, share: float = 0.2) -> FileChoice:
    """Training and held-out files among the index's (refreshed) entries.

    With at least two usable files, at least one is held out and at least one trained on
    (the files nearest the share's boundary move), so a small repository still has both.
    """
    tracked = tracked_files(index.root)
    usable: list[str] = []
    skipped: dict[str, str] = {}
    for path in sorted(index.entries):
        entry = index.entries[path]
        if languages.spec_for(entry.language) is None:
            skipped[path] = "unsupported language"
        elif tracked is not None and path not in tracked:
            skipped[path] = "not tracked by git"
        elif is_vendored(path):
            skipped[path] = "vendored"
        else:
            usable.append(path)
    out = [p for p in usable if held_out(p, seed, share)]
    train = [p for p in usable if p not in set(out)]
    if len(usable) >= 2 and (not out or not train):
        # Move the file whose hash is nearest the boundary to the empty side.
        def score(p: str) -> int:
            return int.from_bytes(hashlib.sha256(f"{seed}\0{p}".encode()).digest()[:8], "big")

        ranked = sorted(usable, key=score)
        out = [ranked[0]] if not out else [p for p in out if p != ranked[-1]]
        train = [p for p in usable if p not in set(out)]
    return FileChoice(train=sorted(train), held_out=sorted(out), skipped=skipped)
