"""Keeping secrets out of the index and prompts: secret file names, private key blocks and
secret literals.

Three gates, all pure: :func:`is_secret_path` (configurable glob patterns, matched against the
file name and the relative path), :func:`has_private_key` (content that must never be indexed)
and :func:`redact` (from :mod:`codeslm.redaction`: replaces secret-looking values in text that
may reach a prompt).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from ..redaction import (
    REDACTED,
    compile_patterns,
    is_secret_token,
    redact,
    redact_around_cursor,
    redact_if_needed,
)

__all__ = [
    "REDACTED",
    "compile_patterns",
    "has_private_key",
    "is_secret_path",
    "is_secret_token",
    "redact",
    "redact_around_cursor",
    "redact_if_needed",
    "strip_strings",
]

_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


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


_STRING_LITERAL = re.compile(r"""\"(?:[^"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'""")


def strip_strings(text: str) -> str:
    """``text`` with the contents of one-line string literals removed (fast, for building
    search tokens that cannot contain a quoted secret)."""
    return _STRING_LITERAL.sub('""', text)
