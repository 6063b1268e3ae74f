"""Parse ``git diff`` output into files, hunks and numbered lines.

Line numbers are 1-based, as in the patch headers: ``new_no`` is the line in the new version of
the file (``None`` for a removed line), ``old_no`` the line in the old version. A review finding
may only point at a line that is in ``FileDiff.added_lines()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from ..errors import InputError

_ESCAPES = {"a": "\a", "b": "\b", "t": "\t", "n": "\n", "v": "\v", "f": "\f", "r": "\r",
            '"': '"', "\\": "\\"}


@dataclass(slots=True)
class DiffLine:
    """One line of a hunk: ``kind`` is ``+``, ``-`` or a space (context)."""

    kind: str
    text: str
    old_no: int | None
    new_no: int | None


@dataclass(slots=True)
class Hunk:
    """One ``@@`` hunk with its lines."""

    header: str
    old_start: int
    new_start: int
    lines: list[DiffLine] = field(default_factory=list)

    def text(self) -> str:
        """The hunk as patch text (header included)."""
        body = "".join(f"{ln.kind}{ln.text}\n" for ln in self.lines)
        return f"{self.header}\n{body}"


@dataclass(slots=True)
class FileDiff:
    """The change of one file.

    ``status`` is ``added``, ``deleted``, ``modified``, ``renamed``, ``copied`` or ``mode``
    (only the permission bits changed). ``binary`` files have no hunks.
    """

    path: str
    old_path: str | None = None
    status: str = "modified"
    binary: bool = False
    header: list[str] = field(default_factory=list)
    hunks: list[Hunk] = field(default_factory=list)
    counts: tuple[int, int] | None = None  # (added, deleted) when the patch was not read

    @property
    def added(self) -> int:
        if self.counts is not None:
            return self.counts[0]
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind == "+")

    @property
    def deleted(self) -> int:
        if self.counts is not None:
            return self.counts[1]
        return sum(1 for h in self.hunks for ln in h.lines if ln.kind == "-")

    def added_lines(self) -> set[int]:
        """New-file line numbers of the added lines: the lines a finding may point at."""
        return {ln.new_no for h in self.hunks for ln in h.lines
                if ln.kind == "+" and ln.new_no is not None}

    def text(self) -> str:
        """The whole patch of this file (``diff --git`` header included)."""
        head = "".join(line + "\n" for line in self.header)
        return head + "".join(h.text() for h in self.hunks)

    def stat(self) -> str:
        """A one-line summary such as ``M src/app.py (+12 -3)``."""
        letter = {"added": "A", "deleted": "D", "renamed": "R", "copied": "C", "mode": "T"}
        code = letter.get(self.status, "M")
        name = f"{self.old_path} -> {self.path}" if self.old_path and self.status in {
            "renamed", "copied"} else self.path
        counts = "binary" if self.binary else f"+{self.added} -{self.deleted}"
        return f"{code} {name} ({counts})"


def unquote_path(raw: str) -> str:
    """Undo git's C-style quoting of a path (``"a\\tb"``); plain paths are returned as-is."""
    if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
        return raw
    body = raw[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in _ESCAPES:
                out += _ESCAPES[nxt].encode()
                i += 2
                continue
            if nxt.isdigit() and i + 3 < len(body) + 1:
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
        out += ch.encode("utf-8")
        i += 1
    return out.decode("utf-8", "replace")


def _strip_prefix(path: str, prefix: str) -> str:
    path = unquote_path(path)
    return path[len(prefix):] if path.startswith(prefix) else path


def _paths_from_git_line(line: str) -> tuple[str, str]:
    """Old and new path from ``diff --git a/X b/Y`` (used when no ---/+++ lines follow)."""
    rest = line[len("diff --git "):]
    if rest.startswith('"'):
        end = rest.index('"', 1)
        while rest[end - 1] == "\\":
            end = rest.index('"', end + 1)
        old, new = rest[: end + 1], rest[end + 2:]
        return _strip_prefix(old, "a/"), _strip_prefix(new, "b/")
    # Unquoted: "a/X b/X" -- for an unrenamed file both halves are equal, so split in the middle.
    half = (len(rest) - 1) // 2
    if rest[half] == " " and rest[:half][2:] == rest[half + 1:][2:]:
        return rest[2:half], rest[half + 3:]
    old, _, new = rest.partition(" b/")
    return _strip_prefix(old, "a/"), new


def parse_diff(text: str) -> list[FileDiff]:
    """Split ``git diff`` output into :class:`FileDiff` objects, in order.

    ``unidiff`` splits files and hunks and numbers the lines; what it leaves raw is ours: git's
    C-quoted paths, copies and mode-only changes (read from the extended header lines).
    Raises :class:`InputError` for text that is not a unified diff.
    """
    try:
        patches = PatchSet(text)
    except UnidiffParseError as exc:
        raise InputError(f"cannot read the diff: {exc}") from None
    files: list[FileDiff] = []
    for patch in patches:
        lines = [ln.rstrip("\n") for ln in patch.patch_info or ()]
        first = lines[0] if lines and lines[0].startswith("diff --git ") else None
        if first is None:
            continue  # a plain (non-git) diff: git always writes the header
        old, new = _paths_from_git_line(first)
        current = FileDiff(path=new, old_path=old if old != new else None, header=[first])
        if len(patch):  # the ---/+++ lines are only written before hunks
            lines += [f"--- {patch.source_file}", f"+++ {patch.target_file}"]
        for line in lines[1:]:
            _header_line(current, line)
        for h in patch:
            section = f" {h.section_header}" if h.section_header else ""
            header = (f"@@ -{_span(h.source_start, h.source_length)} "
                      f"+{_span(h.target_start, h.target_length)} @@{section}")
            hunk = Hunk(header, h.source_start, h.target_start)
            for ln in h:
                if ln.line_type in "+- ":
                    body = ln.value[:-1] if ln.value.endswith("\n") else ln.value
                    hunk.lines.append(DiffLine(ln.line_type, body, ln.source_line_no,
                                               ln.target_line_no))
            current.hunks.append(hunk)
        files.append(current)
    return files


def _span(start: int, length: int) -> str:
    """A hunk header's range as git writes it (the length left out when it is 1)."""
    return str(start) if length == 1 else f"{start},{length}"


def _header_line(current: FileDiff, line: str) -> None:
    if not line:
        return
    current.header.append(line)
    if line.startswith("new file mode"):
        current.status = "added"
    elif line.startswith("deleted file mode"):
        current.status = "deleted"
    elif line.startswith("rename from "):
        current.status = "renamed"
        current.old_path = unquote_path(line[len("rename from "):])
    elif line.startswith("rename to "):
        current.path = unquote_path(line[len("rename to "):])
    elif line.startswith("copy from "):
        current.status = "copied"
        current.old_path = unquote_path(line[len("copy from "):])
    elif line.startswith("copy to "):
        current.path = unquote_path(line[len("copy to "):])
    elif line.startswith("old mode") and current.status == "modified":
        current.status = "mode"
    elif line.startswith("Binary files ") or line == "GIT binary patch":
        current.binary = True
    elif line.startswith("--- ") and line[4:] != "/dev/null":
        current.old_path = _strip_prefix(line[4:], "a/")
    elif line.startswith("+++ ") and line[4:] != "/dev/null":
        current.path = _strip_prefix(line[4:], "b/")
    if current.status == "deleted" and current.old_path:
        current.path = current.old_path
    if current.old_path == current.path:
        current.old_path = None
