"""Keeping secrets out of prompts: secret file names, private key blocks and secret literals.

Three gates, all pure: :func:`is_secret_path` (configurable glob patterns, matched against the
file name and the relative path), :func:`has_private_key` (content that must never be indexed)
and :func:`redact` (replaces secret-looking literals in text that may reach a prompt).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections import Counter
from collections.abc import Iterable

REDACTED = "<redacted>"

_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")

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
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:)([^@\s/'\"]{3,})(@)")
_QUOTED = re.compile(r"""(["'])([A-Za-z0-9+/=_\-.~]{32,})\1""")


def is_secret_path(relpath: str, patterns: Iterable[str]) -> bool:
    """True when the file name (or the relative path, for patterns with a ``/``) matches."""
    name = relpath.rsplit("/", 1)[-1]
    lowered = name.lower()
    for pattern in patterns:
        if "/" in pattern:
            if fnmatch.fnmatchcase(relpath, pattern):
                return True
        elif fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(lowered, pattern):
            return True
    return False


def has_private_key(data: bytes) -> bool:
    """True for content holding a PEM private key block."""
    return _PRIVATE_KEY.search(data) is not None


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
    text = _ASSIGNED.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    def quoted(m: re.Match[str]) -> str:
        return f"{m.group(1)}{REDACTED}{m.group(1)}" if _looks_random(m.group(2)) else m.group(0)

    text = _QUOTED.sub(quoted, text)
    for pattern in extra:
        text = pattern.sub(REDACTED, text)
    return text


_STRING_LITERAL = re.compile(r"""\"(?:[^"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'""")


def strip_strings(text: str) -> str:
    """``text`` with the contents of one-line string literals removed (fast, for building
    search tokens that cannot contain a quoted secret)."""
    return _STRING_LITERAL.sub('""', text)


def is_secret_token(token: str) -> bool:
    """Whether a bare identifier-like token looks like a credential (vendor format or a long
    random mix of letters and digits)."""
    return len(token) >= 16 and (_TOKENS.fullmatch(token) is not None or _looks_random(token))


def redact_if_needed(text: str, extra: Iterable[re.Pattern[str]] = ()) -> str:
    """:func:`redact`, skipped for text without quotes, ``=``/``:`` or long tokens (most
    signatures), which cannot hold a value the patterns redact."""
    if not extra and '"' not in text and "'" not in text and "`" not in text and \
            "-----BEGIN" not in text and not any(len(t) >= 16 for t in text.split()):
        return text
    return redact(text, extra)


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """Compile user-supplied redaction regexes; invalid ones are reported by the caller."""
    return [re.compile(p) for p in patterns]
