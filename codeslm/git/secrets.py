"""Redact secrets from patch text before it goes into any prompt.

Known token formats (cloud keys, VCS and package registry tokens, JWTs, private key blocks),
credentials in URLs, ``Authorization`` headers and values assigned to secret-looking names
(``password = "..."``, ``API_KEY: ...``) are replaced by ``[REDACTED]``, and so is what looks
like a secret by its content alone (:mod:`codeslm.secret_content`): random-looking tokens
anywhere in a line, and key material whose ``BEGIN`` line is outside the hunk. Every redaction is
reported with its kind so the review can say "possible secret added" at the right line. The
scrubber errs on the side of redacting: a false positive costs the model one value, a false
negative leaks a credential.

Why not detect-secrets (measured with ``benchmarks/secret_scrub.py``, see
``benchmarks/RESULTS.md``): its ``scan_diff`` with the default plugins took 8-10x this
scrubber's time on the same diffs (about 0.9 s against 0.1 s on a 2,250-line diff on two
loaded cores), plus ~150-200 ms of import in every hook process; it reports lines, not the
spans to replace; and on the issue-18 corpus it missed the key body whose BEGIN line is
outside the hunk, the hunk header, the free-form Markdown token and the PEM blocks' body lines.
Its ideas (vendor formats, keyword assignments, entropy) are here as patterns; the content
rules live in :mod:`codeslm.secret_content`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from ..secret_content import KeyBody, entropy, redact_random_tokens

REDACTED = "[REDACTED]"

# (kind, pattern); the whole match is replaced unless the pattern has a group named "v".
_TOKENS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern))
    for kind, pattern in (
        ("AWS access key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"),
        ("GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
        ("GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
        ("Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("Slack webhook", r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+"),
        ("Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
        ("Stripe key", r"\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}"),
        ("API key", r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}"),
        ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
        ("npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("PyPI token", r"\bpypi-[A-Za-z0-9_\-]{50,}"),
        ("JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("URL credentials", r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@'\"]+:(?P<v>[^/\s@'\"]+)@"),
        ("authorization header",
         r"(?i)\b(?:bearer|basic|token)\s+(?P<v>[A-Za-z0-9._~+/=-]{12,})"),
    )
)

_SECRET_NAME = (
    r"(?:[A-Za-z0-9_.-]*?(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|"
    r"access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key)"
    r"[A-Za-z0-9_.-]*)"
)
# name = "value" / name: 'value' / "name": "value" / name => "value" (any file)
_QUOTED_ASSIGNMENT = re.compile(
    rf"(?i)[\"']?\b{_SECRET_NAME}[\"']?\s*(?::=|=>|[:=])\s*[bru]?(?P<q>[\"'`])(?P<v>[^\"'`\n]{{4,200}})(?P=q)"
)
# name = value (configuration files only: in code an unquoted value is an expression)
_BARE_ASSIGNMENT = re.compile(
    rf"(?i)^\s*(?:export\s+)?[\"']?{_SECRET_NAME}[\"']?\s*[:=]\s*(?P<v>[^\s\"'#;,]{{6,}})\s*$"
)
_CONFIG_SUFFIXES = frozenset({
    "", ".env", ".ini", ".cfg", ".conf", ".config", ".properties", ".yaml", ".yml", ".toml",
    ".sh", ".bash", ".zsh", ".envrc", ".tfvars", ".txt",
})
_QUOTED = re.compile(r"(?P<q>[\"'`])(?P<v>[A-Za-z0-9+/=_\-]{32,})(?P=q)")
_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----")

# Every pattern above needs one of these fragments, so a line without any cannot hold a secret
# (one cheap search per line instead of every pattern; keep it in step with the patterns).
_GATE = re.compile(
    r"passw|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private|credential|auth"
    r"|A[KSGIRN][A-Z]{2}[A-Z0-9]{16}|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|hooks\.slack"
    r"|AIza|_(?:live|test)_|sk-|hf_|npm_|pypi-|eyJ|://[^/\s:@'\"]+:|bearer|basic"
    r"|[\"'`][A-Za-z0-9+/=_\-]{32,}",
    re.IGNORECASE,
)
_ENTROPY_BITS = 4.3  # per character; random base64 is ~5.5-6, English and identifiers lower


@dataclass(frozen=True, slots=True)
class Redaction:
    """One redacted secret: which kind, and the index of the line it was on."""

    kind: str
    line: int


class Scrubber:
    """Scrubs the lines of one file in order (a private key block spans several lines)."""

    def __init__(self, path: str = "") -> None:
        self._config_like = PurePosixPath(path).suffix.lower() in _CONFIG_SUFFIXES or (
            PurePosixPath(path).name.lower().startswith(".env"))
        self._in_key = False
        self._body = KeyBody()

    def scrub(self, line: str) -> tuple[str, list[str]]:
        """The line with secrets replaced, and the kinds found."""
        if self._in_key:
            if _PEM_END.search(line):
                self._in_key = False
                return line, []
            return REDACTED, ["private key"]
        begin = _PEM_BEGIN.search(line)
        if begin:
            # Keep the marker (it tells the model a key was added), drop anything after it.
            self._in_key = not _PEM_END.search(line)
            rest = line[begin.end():]
            return line[: begin.end()] + (f" {REDACTED}" if rest.strip() else ""), ["private key"]
        if self._body.feed(line):
            # Key material without its BEGIN line in view (a hunk in the middle of a key file).
            return REDACTED, ["private key"]
        kinds: list[str] = []
        if not _GATE.search(line):
            # The common case: one search instead of every pattern, then the content rule.
            line, n = redact_random_tokens(line, REDACTED)
            return line, ["random-looking token"] if n else []
        for kind, pattern in _TOKENS:
            line, n = _sub_value(pattern, line)
            if n:
                kinds.append(kind)
        line, n = _sub_value(_QUOTED_ASSIGNMENT, line)
        if n:
            kinds.append("hard-coded credential")
        if self._config_like:
            line, n = _sub_value(_BARE_ASSIGNMENT, line)
            if n:
                kinds.append("hard-coded credential")
        before = line.count(REDACTED)
        line = _QUOTED.sub(_high_entropy, line)
        if line.count(REDACTED) > before:
            kinds.append("high-entropy string")
        line, n = redact_random_tokens(line, REDACTED)
        if n:
            kinds.append("random-looking token")
        return line, kinds


def _high_entropy(match: re.Match[str]) -> str:
    value = match.group("v")
    if REDACTED in value or entropy(value) < _ENTROPY_BITS:
        return match.group(0)
    quote = match.group("q")
    return f"{quote}{REDACTED}{quote}"


def _sub_value(pattern: re.Pattern[str], line: str) -> tuple[str, int]:
    """Replace the ``v`` group (or the whole match) of each match; return the line and count."""
    count = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal count
        if "v" not in pattern.groupindex:
            count += 1
            return REDACTED
        value = match.group("v")
        if value == REDACTED or value.startswith(("${", "$(", "<", "%(", "{{")):
            return match.group(0)  # already redacted, or a placeholder rather than a value
        count += 1
        start, end = match.span("v")
        base = match.start()
        whole = match.group(0)
        return whole[: start - base] + REDACTED + whole[end - base:]

    return pattern.sub(repl, line), count


def scrub_text(text: str, path: str = "") -> tuple[str, list[Redaction]]:
    """Scrub every line of ``text``; redactions carry 0-based line indexes."""
    scrubber = Scrubber(path)
    out: list[str] = []
    found: list[Redaction] = []
    for i, line in enumerate(text.split("\n")):
        clean, kinds = scrubber.scrub(line)
        out.append(clean)
        found.extend(Redaction(k, i) for k in kinds)
    return "\n".join(out), found
