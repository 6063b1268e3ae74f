"""Review findings: a file, a changed line, a severity and one sentence."""

from __future__ import annotations

from dataclasses import asdict, dataclass

SEVERITIES = ("high", "medium", "low")


@dataclass(frozen=True, slots=True)
class Finding:
    """One advisory finding. ``line`` is 1-based in the new version of ``path`` and is always
    an added line of the reviewed diff. ``source`` is ``rule`` (deterministic) or ``model``."""

    path: str
    line: int
    severity: str
    message: str
    rule: str
    source: str = "rule"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def sort_key(self) -> tuple[str, int, int]:
        return (self.path, self.line, SEVERITIES.index(self.severity))
