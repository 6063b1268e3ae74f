"""The change to describe or review: parsed, filtered and scrubbed, ready for a prompt.

This is the only path from git to a prompt: every patch line passes the secret scrubber, and
withheld files (secrets, lockfiles, binaries, generated, vendored) keep only their name and
line counts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import Config
from .diff import DiffLine, FileDiff, Hunk, parse_diff
from .filters import ATTRIBUTES, SECRET, TOO_LARGE, Withheld, is_secret_path, split
from .repo import STAGED, GitRepo
from .secrets import Scrubber


@dataclass(frozen=True, slots=True)
class SecretHit:
    """A secret found on a changed line (``line`` is the new-file line number when added)."""

    path: str
    line: int | None
    kind: str
    added: bool


@dataclass(slots=True)
class ChangeSet:
    """Files whose scrubbed patches may be sent, the withheld files, and what was redacted."""

    target: str
    files: list[FileDiff]
    withheld: list[Withheld]
    secrets: list[SecretHit] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.files and not self.withheld

    def all_files(self) -> list[FileDiff]:
        return self.files + [w.file for w in self.withheld]

    def stat(self, max_lines: int = 30) -> str:
        """One line per changed file (withheld ones say why), e.g. ``M app.py (+3 -1)``.

        Past ``max_lines`` files, files are grouped by folder (``tests/data/: 350 files
        added, 2 modified (+3000 -20)``), largest first, so the list stays short.
        """
        lines = [f.stat() for f in self.files]
        lines += [f"{w.file.stat()} [{w.reason}, not sent]" for w in self.withheld]
        if len(lines) <= max_lines:
            return "\n".join(lines)
        return "\n".join(_grouped(self.all_files(), max_lines))

    def notes(self) -> list[str]:
        """Human-readable lines about what the model did not see."""
        out = []
        if self.withheld:
            names = ", ".join(w.describe() for w in self.withheld[:8])
            more = f" and {len(self.withheld) - 8} more" if len(self.withheld) > 8 else ""
            out.append(f"not sent to the model: {names}{more}")
        redacted = sorted({s.path for s in self.secrets})
        if redacted:
            out.append(f"{len(self.secrets)} secret-looking value(s) redacted in "
                       f"{', '.join(redacted[:5])}")
        return out


def _grouped(files: list[FileDiff], max_lines: int) -> list[str]:
    """Folder summaries for a long file list, largest change first."""
    groups: dict[str, list[FileDiff]] = {}
    for file in files:
        parts = file.path.split("/")
        key = "/".join(parts[:2]) + "/" if len(parts) > 2 else (
            parts[0] + "/" if len(parts) == 2 else "(top level)")
        groups.setdefault(key, []).append(file)
    ordered = sorted(groups.items(), key=lambda kv: -sum(f.added + f.deleted + 1 for f in kv[1]))
    lines = []
    for key, members in ordered[:max_lines]:
        if len(members) == 1:
            lines.append(members[0].stat())
            continue
        counts: dict[str, int] = {}
        for f in members:
            counts[f.status] = counts.get(f.status, 0) + 1
        kinds = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        added = sum(f.added for f in members)
        deleted = sum(f.deleted for f in members)
        lines.append(f"{key}: {len(members)} files ({kinds}) (+{added} -{deleted})")
    if len(ordered) > max_lines:
        rest = sum(len(m) for _, m in ordered[max_lines:])
        lines.append(f"... and {rest} more files in {len(ordered) - max_lines} more folders")
    return lines


HUGE_LINES = 20_000  # a file changing more lines than this is not even read (time, memory)


def collect(repo: GitRepo, config: Config, target: str = STAGED) -> ChangeSet:
    """Read the diff of ``target`` from ``repo``, withhold what must not be sent, scrub the rest."""
    huge = {path: counts for path, counts in repo.numstat(target).items()
            if (counts[0] or 0) + (counts[1] or 0) > HUGE_LINES}
    files = parse_diff(repo.diff(target, exclude=list(huge)))
    files += [FileDiff(path, counts=(a or 0, d or 0)) for path, (a, d) in huge.items()]
    attributes = repo.attributes([f.path for f in files], ATTRIBUTES)
    big = [Withheld(f, SECRET if is_secret_path(f.path, config.context.secret_patterns)
                    else TOO_LARGE) for f in files if f.counts is not None]
    files = [f for f in files if f.counts is None]
    sent, withheld = split(
        files,
        secret_patterns=config.context.secret_patterns,
        exclude=config.git.exclude,
        attributes=attributes,
    )
    withheld += big
    scrubbed: list[FileDiff] = []
    secrets: list[SecretHit] = []
    for file in sent:
        clean, hits = scrub_file(file)
        scrubbed.append(clean)
        secrets.extend(hits)
    for item in withheld:
        if item.reason == SECRET:
            first = min(item.file.added_lines(), default=None)
            secrets.append(SecretHit(item.file.path, first, "secret file", first is not None))
    return ChangeSet(target, scrubbed, withheld, secrets)


def scrub_file(file: FileDiff) -> tuple[FileDiff, list[SecretHit]]:
    """A copy of ``file`` with secrets redacted from every line, and what was found.

    Added and removed lines are scrubbed by separate scrubbers, so a key block that spans
    lines is followed through each side of the change.
    """
    new_side = Scrubber(file.path)
    old_side = Scrubber(file.old_path or file.path)
    hits: list[SecretHit] = []
    hunks: list[Hunk] = []
    for hunk in file.hunks:
        lines: list[DiffLine] = []
        for line in hunk.lines:
            text = line.text
            kinds: list[str] = []
            if line.kind in "+ ":
                text, kinds = new_side.scrub(line.text)
            if line.kind in "- ":
                old_text, old_kinds = old_side.scrub(line.text)
                if line.kind == "-":
                    text, kinds = old_text, old_kinds
            lines.append(dataclasses.replace(line, text=text))
            hits.extend(SecretHit(file.path, line.new_no if line.kind == "+" else line.old_no,
                                  kind, line.kind == "+") for kind in kinds)
        hunks.append(dataclasses.replace(hunk, lines=lines, header=_scrub_hunk_header(
            hunk.header, file.path)))
    header = [Scrubber(file.path).scrub(h)[0] for h in file.header]
    return dataclasses.replace(file, hunks=hunks, header=header), hits


def _scrub_hunk_header(header: str, path: str) -> str:
    """The ``@@ -a,b +c,d @@`` line with its trailing function context scrubbed: git copies
    a line of the file there (often an assignment above the hunk, secret included)."""
    close = header.find(" @@", 2)
    if close < 0:
        return header
    head, context = header[: close + 3], header[close + 3:]
    return head + Scrubber(path).scrub(context)[0] if context.strip() else header
