"""Deterministic review checks on added lines: secrets, conflict markers, debug leftovers,
swallowed errors. They are cheap and certain, so they run even when the model cannot."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..documents import language_for
from .changes import ChangeSet
from .diff import DiffLine, FileDiff
from .findings import Finding

_CONFLICT = re.compile(r"^(<{7}|={7}|>{7})(?: |$)")

# language -> [(rule, severity, pattern, message)]
_LINE_RULES: dict[str, list[tuple[str, str, re.Pattern[str], str]]] = {
    "python": [
        ("debug-code", "medium", re.compile(r"\bbreakpoint\(\s*\)"), "leftover breakpoint()"),
        ("debug-code", "medium", re.compile(r"\b(?:i?pdb|pudb)\.set_trace\("),
         "leftover debugger call"),
        ("debug-code", "medium", re.compile(r"^\s*import\s+(?:i?pdb|pudb)\b"),
         "debugger imported"),
        ("swallowed-error", "medium", re.compile(r"^\s*except\b[^:]*:\s*pass\s*(?:#.*)?$"),
         "exception silently swallowed"),
        ("bare-except", "low", re.compile(r"^\s*except\s*:"),
         "bare except also catches KeyboardInterrupt and SystemExit"),
    ],
    "javascript": [
        ("debug-code", "low", re.compile(r"\bconsole\.(?:log|debug|trace)\("),
         "leftover console.log"),
        ("debug-code", "medium", re.compile(r"^\s*debugger\s*;?\s*$"),
         "leftover debugger statement"),
        ("swallowed-error", "medium", re.compile(r"\bcatch\s*(?:\([^)]*\))?\s*\{\s*\}"),
         "error silently swallowed by an empty catch"),
    ],
    "rust": [
        ("debug-code", "low", re.compile(r"\bdbg!\("), "leftover dbg!()"),
    ],
    "ruby": [
        ("debug-code", "medium", re.compile(r"\bbinding\.(?:pry|irb)\b|^\s*byebug\b"),
         "leftover debugger call"),
    ],
    "java": [
        ("swallowed-error", "low", re.compile(r"\.printStackTrace\(\s*\)"),
         "exception printed and then ignored"),
        ("swallowed-error", "medium", re.compile(r"\bcatch\s*\([^)]*\)\s*\{\s*\}"),
         "exception silently swallowed by an empty catch"),
    ],
}
_LINE_RULES["typescript"] = _LINE_RULES["javascript"]
_LINE_RULES["tsx"] = _LINE_RULES["javascript"]
_RUBY = {".rb": "ruby"}


def check(changes: ChangeSet) -> list[Finding]:
    """Rule findings for every added line of ``changes`` (secrets included)."""
    findings = [
        Finding(hit.path, hit.line, "high",
                f"secret file {hit.path} is being committed; it was not sent to the model"
                if hit.kind == "secret file" else
                f"possible {hit.kind} added; it was redacted before any prompt", "secret")
        for hit in changes.secrets if hit.added and hit.line is not None
    ]
    for file in changes.files:
        findings.extend(_check_file(file))
    return findings


def _added(file: FileDiff) -> Iterator[tuple[DiffLine, DiffLine | None]]:
    """Added lines with the line after each (for two-line patterns)."""
    for hunk in file.hunks:
        lines = hunk.lines
        for i, line in enumerate(lines):
            if line.kind == "+" and line.new_no is not None:
                nxt = next((x for x in lines[i + 1:] if x.kind != "-"), None)
                yield line, nxt


def _check_file(file: FileDiff) -> Iterator[Finding]:
    language = language_for(file.path) or _RUBY.get(file.path[file.path.rfind("."):].lower())
    rules = _LINE_RULES.get(language or "", [])
    for line, nxt in _added(file):
        assert line.new_no is not None
        if _CONFLICT.match(line.text):
            yield Finding(file.path, line.new_no, "high", "merge conflict marker",
                          "conflict-marker")
            continue
        if (language == "python" and re.match(r"^\s*except\b[^:]*:\s*$", line.text)
                and nxt is not None and nxt.kind == "+" and nxt.text.strip() == "pass"):
            yield Finding(file.path, line.new_no, "medium", "exception silently swallowed",
                          "swallowed-error")
            continue
        for rule, severity, pattern, message in rules:
            if pattern.search(line.text):
                yield Finding(file.path, line.new_no, severity, message, rule)
                break
