"""Advisory review of a change: rule findings plus the model's, pinned to real added lines.

The model sees one file at a time (split into pieces that fit the budget), each line prefixed
with its new-file line number and a ``+`` for added lines, and answers ``LINE: SEVERITY:
problem``. A finding whose line is not an added line of that file is dropped: a small model
invents line numbers, and a comment on unchanged code is not about this change.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field

from ..backends.base import Backend
from ..config import Config
from ..errors import BackendError, ModelError
from ..templates import load_template
from ..types import GenerationRequest
from .budget import Counter
from .changes import ChangeSet
from .diff import FileDiff, Hunk
from .findings import SEVERITIES, Finding
from .message import make_counter
from .rules import check

log = logging.getLogger(__name__)

_ANSWER = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:\**\s*)?(?:[\w./-]+:)?(?:line\s*)?(?P<line>\d+)\s*\**\s*[:).\-]\s*"
    r"(?:\**\s*(?P<severity>high|medium|low)\s*\**\s*[:\-]\s*)?(?P<message>\S.*)$",
    re.IGNORECASE,
)
_LIST_NUMBER = re.compile(r"^\s*\d+[.)]\s+(?=\S*\d)")  # "1. 12: high: ..." -> "12: ..."
_ANSWER_TOKENS = 96
_MARGIN = 64


@dataclass(slots=True)
class ReviewResult:
    """Findings (rules first, then model), the files reviewed, and notes for the user."""

    target: str
    findings: list[Finding]
    reviewed: list[str]
    notes: list[str] = field(default_factory=list)
    model_calls: int = 0
    dropped: int = 0  # model findings not on an added line
    elapsed_s: float = 0.0
    model: str | None = None


def numbered(hunks: list[Hunk]) -> str:
    """Hunks as numbered lines: ``  12 + added``, ``  11   context``, ``     - removed``."""
    out = []
    for hunk in hunks:
        out.append("...")
        for line in hunk.lines:
            if line.kind == "-":
                out.append(f"{'':>5} - {line.text}")
            else:
                mark = "+" if line.kind == "+" else " "
                out.append(f"{line.new_no:>5} {mark} {line.text}")
    return "\n".join(out)


def parse_answer(text: str, file: FileDiff, *, limit: int = 3) -> tuple[list[Finding], int]:
    """Model findings for ``file`` on its added lines, and how many answers were dropped.

    A small model that starts repeating itself ("13: the variable is not used", "14: the
    variable is not used"...) has stopped reviewing: a repeated message is dropped, and at most
    ``limit`` findings are kept per answer.
    """
    allowed = file.added_lines()
    findings: list[Finding] = []
    seen: set[str] = set()
    dropped = 0
    for raw in text.splitlines():
        if not raw.strip() or raw.strip().upper().startswith("NONE"):
            continue
        match = _ANSWER.match(_LIST_NUMBER.sub("", raw))
        if not match:
            continue
        line = int(match["line"])
        if line not in allowed:
            dropped += 1
            continue
        severity = (match["severity"] or "low").lower()
        message = match["message"].strip().strip("*").strip()
        if not message or message.upper().startswith("NONE"):
            continue
        key = re.sub(r"\W+", " ", message.lower()).strip()
        if key in seen or len(findings) >= limit:
            dropped += 1
            continue
        seen.add(key)
        findings.append(Finding(file.path, line, severity, message[:240], "model", "model"))
    return findings, dropped


async def _pieces(file: FileDiff, budget: int, count: Counter) -> list[list[Hunk]]:
    """Groups of hunks of ``file`` with added lines, each group within ``budget`` tokens."""
    groups: list[list[Hunk]] = []
    current: list[Hunk] = []
    used = 0
    for hunk in file.hunks:
        if not any(ln.kind == "+" for ln in hunk.lines):
            continue
        for part in _split_hunk(hunk, max(8, budget // 12)):
            size = await count(numbered([part]))
            if current and used + size > budget:
                groups.append(current)
                current, used = [], 0
            current.append(part)
            used += size
    if current:
        groups.append(current)
    return groups


def _split_hunk(hunk: Hunk, max_lines: int) -> list[Hunk]:
    """Cut a long hunk into parts of at most ``max_lines`` lines (numbers stay correct)."""
    if len(hunk.lines) <= max_lines:
        return [hunk]
    return [Hunk(hunk.header, hunk.old_start, hunk.new_start, hunk.lines[i:i + max_lines])
            for i in range(0, len(hunk.lines), max_lines)]


async def review(
    changes: ChangeSet,
    config: Config,
    backend: Backend | None,
    *,
    deadline: float | None = None,
) -> ReviewResult:
    """Review ``changes``: rules always, the model too when ``backend`` is given.

    A backend failure or the deadline ends the model part with a note; the rule findings and
    the model findings so far are still returned.
    """
    started = time.perf_counter()
    result = ReviewResult(changes.target, check(changes), [f.path for f in changes.files])
    result.notes.extend(changes.notes())
    if backend is not None:
        try:
            await _model_review(changes, config, backend, result, deadline)
        except TimeoutError:
            result.notes.append("the model review ran out of time; its findings are partial")
        except (BackendError, ModelError) as exc:
            result.notes.append(f"no model review: {exc}")
    unique: dict[tuple[str, int, str], Finding] = {}
    for finding in result.findings:
        unique.setdefault((finding.path, finding.line, finding.message.lower()), finding)
    ordered = sorted(unique.values(), key=lambda f: (f.source != "rule",
                                                     SEVERITIES.index(f.severity)))
    limit = config.git.review_max_findings
    if len(ordered) > limit:
        result.notes.append(f"{len(ordered) - limit} more findings not shown (review_max_findings)")
    result.findings = sorted(ordered[:limit], key=Finding.sort_key)
    result.elapsed_s = time.perf_counter() - started
    return result


async def _model_review(changes: ChangeSet, config: Config, backend: Backend,
                        result: ReviewResult, deadline: float | None) -> None:
    template = load_template("review")
    info = await backend.model_info()  # loads a local model in a worker thread
    count = make_counter(backend)
    result.model = info.name
    overhead = sum([await count(m.content) for m in template.render(path="x", numbered="")])
    budget = min(config.git.max_diff_tokens,
                 info.context_length - overhead - _ANSWER_TOKENS - _MARGIN)
    for file in changes.files:
        for piece in await _pieces(file, budget, count):
            messages = template.render(path=file.path, numbered=numbered(piece))
            request = GenerationRequest(messages=messages, max_tokens=_ANSWER_TOKENS,
                                        temperature=0.0, seed=0)
            call = backend.generate(request)
            if deadline is not None:
                answer = await asyncio.wait_for(call, max(0.01, deadline - time.monotonic()))
            else:
                answer = await call
            result.model_calls += 1
            found, dropped = parse_answer(answer.text, file)
            log.info("review %s: %d findings, %d dropped", file.path, len(found), dropped)
            result.findings.extend(found)
            result.dropped += dropped
