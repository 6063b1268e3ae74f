"""Redacting secrets from text that may reach a prompt (context snippets, the file being
completed, refactor regions, piped input).

:func:`redact` replaces known token formats, values assigned to secret-looking names,
credentials in URLs, quoted high-entropy literals, and, by content alone, random-looking tokens
and key material (:mod:`codeslm.secret_content`) with ``<redacted>``. It is line- and
pattern-based and light to import (the prompt builders call it on every request).
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .secret_content import KeyBody, looks_random, redact_random_tokens

REDACTED = "<redacted>"

# Well-known token formats (vendor prefixes with fixed shapes).
_TOKEN_PATTERNS = [
    r"AKIA[0-9A-Z]{16}",
    r"ASIA[0-9A-Z]{16}",
    r"gh[pousr]_[A-Za-z0-9]{30,}",
    r"github_pat_[A-Za-z0-9_]{20,}",
    r"glpat-[A-Za-z0-9_-]{20,}",
    r"xox[abposr]-[A-Za-z0-9-]{10,}",
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,}",
    r"AIza[0-9A-Za-z_-]{35}",
    r"hf_[A-Za-z0-9]{30,}",
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-[A-Za-z0-9_-]{50,}",
    r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
    r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
    r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
]
_TOKENS = re.compile("|".join(f"(?:{p})" for p in _TOKEN_PATTERNS))

# `password = "..."`, `"api_key": '...'`, `token: ...` and the like: the value is redacted.
_ASSIGNED = re.compile(
    r"""(?ix)
    (\b[\w.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|
        private[_-]?key|client[_-]?secret|auth[_-]?key|credentials?|signing[_-]?key)[\w.-]*
     ["']?\s*(?::=|[:=]|=>)\s*)
    (?:(["'`])([^"'`\n]{6,})\2)
    """
)
# Every name _ASSIGNED matches holds one of these: it runs only on lines that do (it is the
# costly pattern, and a case-insensitive regex gate costs as much as it saves).
_ASSIGNED_WORDS = ("passw", "pwd", "secret", "token", "key", "credential")
_AUTH_HEADER = re.compile(r"(?i)(\b(?:bearer|basic)\s+)([A-Za-z0-9._~+/=-]{12,})")
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:)([^@\s/'\"]{3,})(@)")
_QUOTED = re.compile(r"""(["'])([A-Za-z0-9+/=_\-.~]{32,})\1""")


def _entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(value: str) -> bool:
    """A long literal mixing letters and digits with high entropy (an API key, not a word)."""
    has_digit = any(c.isdigit() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_lower = any(c.islower() for c in value)
    return has_digit and has_upper and has_lower and _entropy(value) >= 4.3


def redact(text: str, extra: Iterable[re.Pattern[str]] = ()) -> str:
    """``text`` with secret-looking values replaced by ``<redacted>``."""
    text = _TOKENS.sub(REDACTED, text)
    if _has_word(text.lower()):
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if _has_word(line.lower()):
                lines[i] = _ASSIGNED.sub(
                    lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", line)
        text = "\n".join(lines)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)

    def quoted(m: re.Match[str]) -> str:
        return f"{m.group(1)}{REDACTED}{m.group(1)}" if _looks_random(m.group(2)) else m.group(0)

    text = _QUOTED.sub(quoted, text)
    text = _redact_by_content(text)
    for pattern in extra:
        text = pattern.sub(REDACTED, text)
    return text


def _has_word(lowered: str) -> bool:
    return any(word in lowered for word in _ASSIGNED_WORDS)


def _redact_by_content(text: str) -> str:
    """Key material without its BEGIN line, and random-looking tokens anywhere."""
    body = KeyBody()
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if body.feed(line):
            lines[i] = REDACTED
        else:
            lines[i] = redact_random_tokens(line, REDACTED)[0]
    return "\n".join(lines)


def is_secret_token(token: str) -> bool:
    """Whether a bare identifier-like token looks like a credential (vendor format or a long
    random mix of letters and digits)."""
    return len(token) >= 16 and (
        _TOKENS.fullmatch(token) is not None or _looks_random(token) or looks_random(token)
    )


def redact_if_needed(text: str, extra: Iterable[re.Pattern[str]] = ()) -> str:
    """:func:`redact`, skipped for text without quotes, ``=``/``:`` or long tokens (most
    signatures), which cannot hold a value the patterns redact."""
    if (
        not extra
        and '"' not in text
        and "'" not in text
        and "`" not in text
        and "-----BEGIN" not in text
        and not any(len(t) >= 16 for t in text.split())
    ):
        return text
    return redact(text, extra)


_WORD_BEFORE = re.compile(r"[^\s\"'`]*\Z")
_WORD_AFTER = re.compile(r"[^\s\"'`]*")


def redact_around_cursor(prefix: str, suffix: str) -> tuple[str, str]:
    """The current file's text before and after the cursor, redacted except the word the
    cursor touches (the run of characters up to the nearest space or quote on each side).

    A value there is what the user is typing: replacing it would make the model complete
    ``<redacted>`` instead of the code. Everything else, the rest of the cursor's line
    included, is redacted as :func:`redact` does; so a secret the user is typing reaches the
    model, one already written elsewhere in the file does not.
    """
    cut = _WORD_BEFORE.search(prefix)
    start = cut.start() if cut else len(prefix)
    after = _WORD_AFTER.match(suffix)
    end = after.end() if after else 0
    return (
        redact_if_needed(prefix[:start]) + prefix[start:],
        suffix[:end] + redact_if_needed(suffix[end:]),
    )


_MARKER = re.compile(r"<redacted:(\d+)>")


@dataclass(frozen=True, slots=True)
class Restorable:
    """Text with its secrets replaced by numbered markers (``<redacted:1>``...), and the lines
    each marker stood for, so an answer that rewrites the text can have them put back."""

    text: str
    originals: dict[str, list[str]] = field(default_factory=dict)

    def restore(self, answer: str) -> str:
        """``answer`` with every line holding a known marker replaced by the original line(s)
        (the whole line: a secret is never half-restored). Unknown markers stay as they are."""
        if not self.originals or "<redacted:" not in answer:
            return answer
        out: list[str] = []
        for line in answer.split("\n"):
            found = next((m.group(0) for m in _MARKER.finditer(line)
                          if m.group(0) in self.originals), None)
            if found is None:
                out.append(line)
            else:
                out.extend(self.originals[found])
        return "\n".join(out)


def redact_restorable(text: str) -> Restorable:
    """:func:`redact` with numbered markers, for text the model rewrites (a refactor's region,
    the input of ``codeslm gen``): :meth:`Restorable.restore` undoes it in the answer."""
    clean = redact_if_needed(text)
    if clean == text:
        return Restorable(text)
    before, after = text.split("\n"), clean.split("\n")
    out = list(after)
    originals: dict[str, list[str]] = {}
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 - i1 == j2 - j1:
            sources = [[line] for line in before[i1:i2]]
        else:  # a multi-line value (a key block) became fewer lines: the first stands for all
            sources = [before[i1:i2]] + [[] for _ in range(j2 - j1 - 1)]
        for j, source in zip(range(j1, j2), sources, strict=False):
            if REDACTED not in after[j]:
                continue
            marker = f"<redacted:{len(originals) + 1}>"
            originals[marker] = source
            out[j] = after[j].replace(REDACTED, marker)
    return Restorable("\n".join(out), originals)


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """Compile user-supplied redaction regexes; invalid ones are reported by the caller."""
    return [re.compile(p) for p in patterns]
