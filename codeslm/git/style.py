"""Learn a repository's commit message habits from its recent history.

What is learnt: whether the history uses Conventional Commits at all, which types and scopes
it uses, and whether descriptions start with a capital letter. Scopes are matched against the
changed paths to suggest one (``codeslm/git/x.py`` with a history that uses ``(git)`` suggests
``git``). Earlier subjects themselves are never put in the prompt: small models copy them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from .conventional import TYPES, parse_header
from .repo import Commit

_MIN_CONVENTIONAL = 0.4  # share of conventional subjects from which the history "has a style"


@dataclass(slots=True)
class CommitStyle:
    """Habits observed in recent commits (all empty for a repository without history)."""

    commits: int = 0
    conventional: int = 0
    types: Counter[str] = field(default_factory=Counter)
    scopes: Counter[str] = field(default_factory=Counter)
    capitalised: int = 0
    with_body: int = 0

    @property
    def uses_conventional(self) -> bool:
        return self.commits > 0 and self.conventional / self.commits >= _MIN_CONVENTIONAL

    @property
    def capitalise(self) -> bool:
        """Descriptions usually start with a capital letter."""
        return self.conventional > 0 and self.capitalised / self.conventional > 0.5

    def scope_for(self, paths: list[str]) -> str | None:
        """A scope this history has used that names a directory or file stem of ``paths``."""
        if not self.scopes or not paths:
            return None
        votes: Counter[str] = Counter()
        for path in paths:
            p = PurePosixPath(path)
            words = {part.lower() for part in p.parts[:-1]} | {p.stem.lower()}
            for scope in self.scopes:
                if scope.lower() in words:
                    votes[scope] += 1
        if not votes:
            return None
        scope, count = votes.most_common(1)[0]
        return scope if count * 2 > len(paths) else None  # most files must agree

    def instructions(self, paths: list[str]) -> str:
        """Extra system-prompt lines describing this repository's habits."""
        if not self.uses_conventional:
            return ""
        # Earlier subjects are not shown: a small model copies them instead of describing the
        # change (measured: the same subject for seven commits in a row).
        lines = []
        if self.scopes:
            common = ", ".join(s for s, _ in self.scopes.most_common(8))
            lines.append(f"Scopes used here: {common}.")
        scope = self.scope_for(paths)
        if scope:
            lines.append(f"The scope for this change is probably ({scope}).")
        elif self.scopes and sum(self.scopes.values()) < self.conventional / 3:
            lines.append("Most subjects here have no scope.")
        if self.capitalise:
            lines.append("Start the description with a capital letter.")
        if lines:
            lines.insert(0, "Follow this repository's habits:")
        return "\n".join(lines)


def learn(commits: list[Commit]) -> CommitStyle:
    """The style of ``commits`` (newest first)."""
    style = CommitStyle()
    for commit in commits:
        subject = commit.subject.strip()
        if not subject or subject.startswith(("Merge ", "Revert \"", "fixup!", "squash!")):
            continue
        style.commits += 1
        if commit.body:
            style.with_body += 1
        header = parse_header(subject)
        if header is None or header.type.lower() not in TYPES:
            continue
        style.conventional += 1
        style.types[header.type.lower()] += 1
        if header.scope:
            style.scopes[header.scope.strip()] += 1
        if header.description[:1].isupper():
            style.capitalised += 1
    return style
