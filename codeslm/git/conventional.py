"""Conventional Commits 1.0.0: parse a header, and turn a small model's answer into a valid one.

A 0.5B model follows the format most of the time but not always (quotes, code fences, a
"Commit message:" label, a capitalised ``Fix:``, a subject of 90 characters). :func:`normalise`
repairs those deterministically, so whatever the model says, the result parses.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import PurePosixPath

TYPES = ("feat", "fix", "docs", "style", "refactor", "perf", "test", "build", "ci", "chore",
         "revert")
MAX_SUBJECT = 72
MAX_BODY_LINES = 6

_HEADER = re.compile(
    r"^(?P<type>[A-Za-z]+)(?:\((?P<scope>[^()\s][^()]*)\))?(?P<breaking>!)?: (?P<description>\S.*)$"
)
_ALIASES = {
    "feature": "feat", "features": "feat", "add": "feat", "new": "feat", "bugfix": "fix",
    "bug": "fix", "hotfix": "fix", "fixes": "fix", "fixed": "fix", "doc": "docs",
    "documentation": "docs", "tests": "test", "testing": "test", "refactoring": "refactor",
    "performance": "perf", "chores": "chore", "deps": "build", "dependencies": "build",
    "formatting": "style", "format": "style",
}
# First word of a plain subject -> the type it usually means.
_VERBS = {
    "add": "feat", "adds": "feat", "added": "feat", "implement": "feat", "implements": "feat",
    "introduce": "feat", "support": "feat", "create": "feat", "allow": "feat", "enable": "feat",
    "fix": "fix", "fixes": "fix", "fixed": "fix", "correct": "fix", "resolve": "fix",
    "prevent": "fix", "handle": "fix", "avoid": "fix", "refactor": "refactor",
    "simplify": "refactor", "rename": "refactor", "move": "refactor", "extract": "refactor",
    "document": "docs", "test": "test", "speed": "perf", "optimize": "perf", "optimise": "perf",
    "bump": "build", "upgrade": "build", "format": "style", "revert": "revert",
    "remove": "chore", "delete": "chore", "update": "chore", "clean": "chore",
}
_LABEL = re.compile(r"^\s*(?:\*\*)?(?:commit message|commit|message|subject|title|header)"
                    r"\s*(?:\*\*)?\s*:\s*", re.IGNORECASE)
_BODY_LABEL = re.compile(r"^\s*(?:\*\*)?(?:body|description|details)(?:\*\*)?\s*:\s*",
                         re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed Conventional Commits header."""

    type: str
    scope: str | None
    breaking: bool
    description: str

    def render(self) -> str:
        scope = f"({self.scope})" if self.scope else ""
        return f"{self.type}{scope}{'!' if self.breaking else ''}: {self.description}"


def parse_header(line: str) -> Header | None:
    """The header of ``line`` when it follows the format (any type word), else ``None``."""
    match = _HEADER.match(line.strip())
    if not match:
        return None
    return Header(match["type"], match["scope"], bool(match["breaking"]), match["description"])


def is_valid(message: str) -> bool:
    """Whether the first line is a Conventional Commits header with a known type, ≤ 72 chars."""
    subject = message.split("\n", 1)[0]
    header = parse_header(subject)
    return bool(header and header.type in TYPES and len(subject) <= MAX_SUBJECT
                and not header.description.endswith("."))


def type_for_paths(paths: list[str]) -> str | None:
    """The type implied by the changed files alone (only docs -> docs...), if any."""
    if not paths:
        return None

    def kind(path: str) -> str:
        p = PurePosixPath(path)
        parts = {part.lower() for part in p.parts}
        name = p.name.lower()
        if parts & {".github", ".gitlab", ".circleci", ".ci"} or name in {
                ".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml", "jenkinsfile"}:
            return "ci"
        if p.suffix.lower() in {".md", ".rst", ".adoc"} or parts & {"docs", "doc"} or (
                name.startswith(("readme", "changelog", "license", "contributing"))):
            return "docs"
        if parts & {"tests", "test", "__tests__", "spec"} or name.startswith("test_") or (
                re.search(r"[._-](test|spec)\.[a-z]+$", name)):
            return "test"
        if name in {"pyproject.toml", "setup.py", "setup.cfg", "package.json", "cargo.toml",
                    "go.mod", "makefile", "dockerfile", "requirements.txt", "pom.xml",
                    "build.gradle", "cmakelists.txt"} or name.endswith(".lock"):
            return "build"
        return "code"

    kinds = {kind(p) for p in paths}
    return next(iter(kinds)) if len(kinds) == 1 and "code" not in kinds else None


def split_answer(text: str) -> tuple[str, list[str]]:
    """Subject line and body lines of a model answer, without fences, labels and quotes."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").split("\n"):
        if _FENCE.match(raw):
            continue
        lines.append(raw.rstrip())
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        return "", []
    subject = _strip_decoration(_LABEL.sub("", lines[0]))
    body: list[str] = []
    for line in lines[1:]:
        line = _BODY_LABEL.sub("", line)
        if line.strip() and _strip_decoration(line).lower() == subject.lower():
            continue
        body.append(line)
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return subject, body


def _strip_decoration(line: str) -> str:
    line = line.strip().strip("*").strip()
    if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'`":
        line = line[1:-1].strip()
    return line.lstrip("#>-• ").strip()


def normalise(
    answer: str,
    *,
    fallback_type: str = "chore",
    force_type: str | None = None,
    scope: str | None = None,
    capitalise: bool = False,
    comment_char: str = "#",
) -> str:
    """A valid Conventional Commits message made from the model's ``answer``.

    The type is kept when valid, mapped when it is a known alias (``Feature`` -> ``feat``),
    inferred from the first verb otherwise, else ``fallback_type``; ``force_type`` replaces it
    (the paths alone can decide: only docs changed). ``scope`` is used only when
    the answer has none. The description loses a trailing period and is cut to fit 72
    characters at a word boundary; the body is wrapped at 72 and limited to a few lines.
    """
    subject, body = split_answer(answer)
    header = parse_header(subject)
    if header is not None:
        word = header.type.lower()
        kind = word if word in TYPES else _ALIASES.get(word)
        if kind is None:  # "Update: foo" -- a word, not a type: keep it in the description
            subject = f"{header.type} {header.description}"
            header = None
        else:
            header = Header(kind, _clean_scope(header.scope) or scope, header.breaking,
                            header.description)
    if header is None:
        first = subject.split(" ", 1)[0].lower().strip(":,")
        kind = _VERBS.get(first, fallback_type)
        header = Header(kind, scope, False, subject or "update files")
    description = _tidy_description(header.description, capitalise=capitalise)
    header = Header(force_type or header.type, header.scope, header.breaking, description)
    subject_line = _fit(header)
    body_lines = _tidy_body(body, comment_char)
    return subject_line + ("\n\n" + "\n".join(body_lines) if body_lines else "")


def _clean_scope(scope: str | None) -> str | None:
    if not scope:
        return None
    scope = scope.strip().lower().replace(" ", "-")
    if "." in scope and "/" not in scope:  # a file name: "calc.py" -> "calc"
        scope = scope.rsplit(".", 1)[0]
    return scope or None


def _tidy_description(text: str, *, capitalise: bool) -> str:
    text = re.sub(r"\s+", " ", text).strip().rstrip(".").strip()
    text = text.strip("\"'`").strip()
    if not text:
        return "update files"
    first_word = text.split(" ", 1)[0]
    acronym = len(first_word) > 1 and (first_word.isupper() or any(c.isupper()
                                                                   for c in first_word[1:]))
    if not acronym:
        text = (text[0].upper() if capitalise else text[0].lower()) + text[1:]
    return text


def _fit(header: Header) -> str:
    line = header.render()
    if len(line) <= MAX_SUBJECT:
        return line
    if header.scope and len(Header(header.type, None, header.breaking,
                                   header.description).render()) <= MAX_SUBJECT:
        return Header(header.type, None, header.breaking, header.description).render()
    prefix = len(line) - len(header.description)
    room = MAX_SUBJECT - prefix
    cut = header.description[: room + 1].rsplit(" ", 1)[0] if " " in header.description[
        : room + 1] else header.description[:room]
    cut = cut.rstrip(" ,;:-(").rstrip(".")
    return Header(header.type, header.scope, header.breaking, cut).render()


def _tidy_body(body: list[str], comment_char: str) -> list[str]:
    out: list[str] = []
    for line in body:
        if line.lstrip().startswith(comment_char):
            continue  # git would drop it; a model echoing comment lines is noise
        stripped = line.strip()
        if not stripped:
            if out and out[-1]:
                out.append("")
            continue
        indent = "  " if re.match(r"^[-*] ", stripped) else ""
        out.extend(textwrap.wrap(stripped, MAX_SUBJECT, subsequent_indent=indent) or [""])
    while out and not out[-1]:
        out.pop()
    return out[:MAX_BODY_LINES]
