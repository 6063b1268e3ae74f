"""Recognising secrets by their content rather than by a known format or a telling name.

Two rules, shared by the patch scrubber (:mod:`codeslm.git.secrets`) and the context redaction
(:mod:`codeslm.context.secrets`):

- **Random-looking tokens** (:func:`random_token_spans`): a run of at least 20 token characters
  (letters, digits, ``+/=_-``) that mixes upper case, lower case and digits, switches between
  those classes often (random text switches on ~60% of characters, a camelCase identifier on
  ~20-35%), is not mostly runs of lower-case words, has near-maximal Shannon entropy for its
  length, and is not a few short words joined by ``-``/``_`` (``SmolLM2-135M-Instruct``).
  Measured on 4,000 random tokens per length: ~89-94% flagged at 20 characters, ~95-96% at 32,
  ~98-99% at 40 and all from 64 on; on the 98,000 runs of 20+ such characters in CPython's
  standard library, this repository and its virtual environment's packages, 34 flagged (0.03%,
  identifiers like ``F2PyCapsule_AsVoidPtr`` and base64 test data): in a prompt such a name
  becomes ``<redacted>``, the price of catching tokens that have no known format. Hex-only
  strings (digests, commit ids) are deliberately not flagged: they are everywhere in code and
  lock files, and a hex secret assigned to a secret-looking name is caught by the name rules.
- **Key material** (:class:`KeyBody`): a line that is nothing but a long base64 run (a PEM or
  OpenSSH key body line, 64-70 characters), and the base64-only lines right after it (the
  short last line of the block), whether or not the ``-----BEGIN`` line is in view.

Both are heuristics; the callers err on the side of redacting.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

MIN_TOKEN = 20
_RUN = re.compile(rf"(?<![A-Za-z0-9_+/\-])[A-Za-z0-9_+/\-]{{{MIN_TOKEN},}}=*")
_SEPARATORS = re.compile(r"[-_./]")
_MIN_PART = 10  # a random token's longest separator-free part; joined words are shorter
_MIN_SWITCHES = 0.42  # class switches per character pair
_ENTROPY_SHARE = 0.85  # of log2(length), the most a string of that length can have
_ENTROPY_CAP = 4.4  # bits per character: what random tokens of 40+ characters reliably pass

_WORDISH = re.compile(r"[a-z]{4,}")
_MAX_WORDISH = 0.4  # share of a token in such runs; ~8% on random tokens, 50%+ in identifiers
_KEY_LINE = re.compile(r"^\s*[A-Za-z0-9+/]{40,}={0,2}\s*$")
_KEY_ENTROPY = 4.0  # bits per character; base64 key lines have ~5.3, the DER header line ~4.4
_BASE64_LINE = re.compile(r"^\s*[A-Za-z0-9+/]+={0,2}\s*$")


def entropy(text: str) -> float:
    """Shannon entropy of ``text`` in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


def _char_class(ch: str) -> int:
    return 0 if ch.isupper() else 1 if ch.islower() else 2 if ch.isdigit() else 3


def looks_random(token: str) -> bool:
    """Whether ``token`` (one run of token characters) looks like a random credential."""
    n = len(token.rstrip("="))
    if n < MIN_TOKEN:
        return False
    has_upper = has_lower = has_digit = False
    for ch in token:
        has_upper = has_upper or ch.isupper()
        has_lower = has_lower or ch.islower()
        has_digit = has_digit or ch.isdigit()
    if not (has_upper and has_lower and has_digit):
        return False
    if max(len(part) for part in _SEPARATORS.split(token)) < _MIN_PART:
        return False
    classes = [_char_class(ch) for ch in token]
    switches = sum(a != b for a, b in itertools.pairwise(classes)) / (n - 1)
    if switches < _MIN_SWITCHES:
        return False
    if sum(len(w) for w in _WORDISH.findall(token)) > _MAX_WORDISH * n:
        return False  # mostly runs of 4+ lower-case letters: words (PyUnicode_AsUTF8String)
    return entropy(token) >= min(_ENTROPY_SHARE * math.log2(n), _ENTROPY_CAP)


def random_token_spans(text: str) -> list[tuple[int, int]]:
    """Start and end offsets of the random-looking tokens in ``text``."""
    return [m.span() for m in _RUN.finditer(text) if looks_random(m.group(0))]


def redact_random_tokens(text: str, marker: str) -> tuple[str, int]:
    """``text`` with each random-looking token replaced by ``marker``, and how many."""
    spans = random_token_spans(text)
    for start, end in reversed(spans):
        text = text[:start] + marker + text[end:]
    return text, len(spans)


def is_key_line(line: str) -> bool:
    """A line that is only a long base64 run with the look of key material."""
    if _KEY_LINE.match(line) is None:
        return False
    body = line.strip().rstrip("=")
    # Weaker than looks_random: a DER header line ("MIIEowIBAAKCAQEA...") repeats ``A``s.
    return (
        any(c.isupper() for c in body)
        and any(c.islower() for c in body)
        and any(c.isdigit() for c in body)
        and entropy(body) >= _KEY_ENTROPY
    )


class KeyBody:
    """Follows a key body through consecutive lines: :meth:`feed` says whether a line is key
    material (a key-shaped line, or a base64-only line right after one)."""

    def __init__(self) -> None:
        self.inside = False

    def feed(self, line: str) -> bool:
        if is_key_line(line):
            self.inside = True
            return True
        if self.inside and _BASE64_LINE.match(line):
            return True
        self.inside = False
        return False
