"""Which changed files are sent to the model, and why the others are only named.

Lockfiles, binaries, generated, minified and vendored files cost many tokens and say little
about intent; secret files (``.env``, keys, credentials) must never leave the machine. Such
files are named in the prompt and the message comments ("package-lock.json: lockfile, not
sent") but their content is not sent.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from .diff import FileDiff

SECRET = "secret file"
LOCKFILE = "lockfile"
BINARY = "binary"
GENERATED = "generated"
VENDORED = "vendored"
CONFIGURED = "excluded by config"
TOO_LARGE = "too large"

LOCKFILES = (
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
    "bun.lock", "poetry.lock", "Pipfile.lock", "pdm.lock", "uv.lock", "Cargo.lock", "Gemfile.lock",
    "composer.lock", "go.sum", "mix.lock", "pubspec.lock", "packages.lock.json", "flake.lock",
    "Podfile.lock", "gradle.lockfile", "deno.lock", "*.lock", "requirements*.lock",
)
GENERATED_NAMES = (
    "*.min.js", "*.min.css", "*.map", "*_pb2.py", "*_pb2_grpc.py", "*.pb.go", "*.pb.cc",
    "*.pb.h", "*.generated.*", "*.g.dart", "*.designer.cs", "*.snap", "*.ipynb_checkpoints*",
    "PKG-INFO",
)
VENDOR_DIRS = frozenset({
    "vendor", "vendored", "_vendor", "third_party", "third-party", "thirdparty", "node_modules",
    "bower_components", "site-packages", ".yarn",
})
_GENERATED_MARKER = re.compile(
    r"@generated|do not edit|auto-?generated|automatically generated", re.IGNORECASE
)
_MARKER_LINES = 8  # only the top of a file is searched for a "generated" marker
_MINIFIED_LINE = 500  # added lines this long on average mean minified or data


@dataclass(frozen=True, slots=True)
class Withheld:
    """A changed file whose content is not sent, with the reason."""

    file: FileDiff
    reason: str

    def describe(self) -> str:
        return f"{self.file.path} ({self.reason}, {self.file.stat().split(' (')[-1].rstrip(')')})"


def _matches(path: str, patterns: Iterable[str]) -> bool:
    name = PurePosixPath(path).name
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(path, p) for p in patterns)


def is_secret_path(path: str, secret_patterns: Iterable[str]) -> bool:
    """Whether ``path`` names a file that must never be sent (``.env``, ``id_rsa``, ...)."""
    return _matches(path, secret_patterns)


def classify(
    file: FileDiff,
    *,
    secret_patterns: Iterable[str],
    exclude: Iterable[str] = (),
    attributes: frozenset[str] | set[str] = frozenset(),
) -> str | None:
    """The reason ``file`` is withheld, or ``None`` when its patch may be sent.

    ``attributes`` are the git attributes set for the path (``linguist-generated``,
    ``linguist-vendored``, ``-diff`` as ``binary``).
    """
    paths = [file.path] + ([file.old_path] if file.old_path else [])
    if any(is_secret_path(p, secret_patterns) for p in paths):
        return SECRET
    if any(_matches(p, exclude) for p in paths):
        return CONFIGURED
    if file.binary or "binary" in attributes:
        return BINARY
    if _matches(file.path, LOCKFILES):
        return LOCKFILE
    if "linguist-vendored" in attributes or VENDOR_DIRS & set(PurePosixPath(file.path).parts[:-1]):
        return VENDORED
    if "linguist-generated" in attributes or _matches(file.path, GENERATED_NAMES):
        return GENERATED
    if _looks_generated(file):
        return GENERATED
    return None


def _looks_generated(file: FileDiff) -> bool:
    """A new file that says it is generated at its top, or whose lines are minified-long."""
    added = [ln.text for h in file.hunks for ln in h.lines if ln.kind == "+"]
    if not added:
        return False
    if file.hunks and file.hunks[0].new_start <= 1:
        top = [ln.text for ln in file.hunks[0].lines[:_MARKER_LINES] if ln.kind != "-"]
        if any(_GENERATED_MARKER.search(t) for t in top):
            return True
    return sum(len(t) for t in added) / len(added) > _MINIFIED_LINE


def split(
    files: list[FileDiff],
    *,
    secret_patterns: Iterable[str],
    exclude: Iterable[str] = (),
    attributes: dict[str, set[str]] | None = None,
) -> tuple[list[FileDiff], list[Withheld]]:
    """Partition ``files`` into those whose patch may be sent and the withheld ones."""
    attributes = attributes or {}
    secret_patterns = list(secret_patterns)
    exclude = list(exclude)
    sent: list[FileDiff] = []
    withheld: list[Withheld] = []
    for file in files:
        reason = classify(file, secret_patterns=secret_patterns, exclude=exclude,
                          attributes=attributes.get(file.path, set()))
        if reason is None:
            sent.append(file)
        else:
            withheld.append(Withheld(file, reason))
    return sent, withheld


ATTRIBUTES = ("linguist-generated", "linguist-vendored", "binary")
