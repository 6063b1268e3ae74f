"""Rendering definitions and code windows as prompt snippets (pure: lines in, text out).

A small function is shown whole; a large one as its signature, the first lines of its
docstring and body and an elision comment; a class as its header, docstring summary, fields
and member signatures (an outline). Never a stub body like ``...``: a small model copies it
into the code it completes. Every snippet keeps the file's own indentation so the model
reads real code.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .tags import Symbol

FULL_MAX_LINES = 12  # definitions up to this long are shown whole
CLASS_MAX_LINES = 28
MAX_MEMBERS = 12  # member signatures shown for a class
BODY_LINES = 4  # body lines shown after the signature of a long function
STUB_CHARS = 110  # a module API stub line is cut (at a parameter) past this length
_CLASS_KINDS = frozenset({"class", "interface", "enum", "type", "module"})
_MEMBER_KINDS = frozenset({"method", "function", "field", "constant"})


@dataclass(frozen=True, slots=True)
class Snippet:
    """A piece of one file for the prompt: lines ``[start, end)`` rendered as ``text``."""

    path: str
    start: int
    end: int
    text: str
    score: float
    source: str  # definition | similar | scope
    key: str = ""  # identity for deduplication and cache-stable ordering

    def overlaps(self, other: Snippet) -> bool:
        return self.path == other.path and self.start < other.end and other.start < self.end


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _docstring_lines(lines: Sequence[str], first: int, last: int, limit: int = 2) -> list[str]:
    """The first ``limit`` lines of a Python docstring starting at ``first`` (closed again if
    cut), or nothing when the body does not start with one."""
    i = first
    while i <= last and not lines[i].strip():
        i += 1
    if i > last:
        return []
    head = lines[i].strip().lstrip("rbuRBU")
    for quote in ('"""', "'''"):
        if not head.startswith(quote):
            continue
        out: list[str] = []
        for j in range(i, last + 1):
            if len(out) >= limit:
                break
            if j > i and not lines[j].strip():
                break  # the summary ends at the first blank line
            out.append(lines[j])
            body = lines[j].strip()
            if (body.count(quote) >= 2) if j == i else (quote in body):
                return out
        out.append(_indent(lines[i]) + quote)
        return out
    return []


def _docstring_span(lines: Sequence[str], first: int, last: int) -> range:
    """Line numbers of the docstring that opens a body (empty range when there is none)."""
    i = first
    while i <= last and not lines[i].strip():
        i += 1
    if i > last:
        return range(0)
    head = lines[i].strip().lstrip("rbuRBU")
    for quote in ('"""', "\'\'\'"):
        if head.startswith(quote):
            if head.count(quote) >= 2:
                return range(i, i + 1)
            for j in range(i + 1, last + 1):
                if quote in lines[j]:
                    return range(i, j + 1)
            return range(i, last + 1)
    return range(0)


def _elision(language: str | None, indent: str) -> str:
    """A comment saying that lines were left out."""
    comment = "#" if language in {"python", "ruby", "bash"} else "//"
    return f"{indent}{comment} ..."


def render_definition(symbol: Symbol, lines: Sequence[str], symbols: Sequence[Symbol],
                      language: str | None, *,
                      prefer: Collection[str] = ()) -> tuple[int, int, str]:
    """``(start, end, text)`` for a definition; ``end`` is exclusive. A class shows its
    constructor and at most ``MAX_MEMBERS`` members, those named in ``prefer`` (the names
    used near the cursor) first."""
    start, end = symbol.start_line, min(symbol.end_line + 1, len(lines))
    if start >= len(lines):
        return start, start, ""
    # Decorators belong to the definition.
    while start > 0 and lines[start - 1].lstrip().startswith("@"):
        start -= 1
    if end - start <= FULL_MAX_LINES:
        return start, end, "\n".join(lines[start:end])
    head_lines = symbol.signature.count("\n") + 1
    sig_end = symbol.start_line + head_lines
    out = list(lines[start:sig_end])
    body_indent = _indent(lines[sig_end]) if sig_end < end and lines[sig_end].strip() else (
        _indent(lines[symbol.start_line]) + "    ")
    doc = _docstring_lines(lines, sig_end, end - 1)
    out.extend(doc)
    if symbol.kind in _CLASS_KINDS:
        out.extend(_members(symbol, lines, symbols, sig_end, end, language, prefer))
        if len(out) > CLASS_MAX_LINES:
            out = [*out[:CLASS_MAX_LINES], _elision(language, body_indent)]
    else:
        # The first lines of the body, then an elision comment: real code, never a stub
        # body (a small model copies a `...` body into the code it completes).
        body_from = max(sig_end, _docstring_span(lines, sig_end, end - 1).stop)
        body = [i for i in range(body_from, end) if lines[i].strip()]
        shown = body[:BODY_LINES]
        out.extend(lines[i] for i in shown)
        if len(shown) < len(body):
            out.append(_elision(language, body_indent))
            result = _result_line(lines, body[len(shown):])
            if result is not None:
                # What the function gives back (``yield read_stream, write_stream``) tells the
                # caller what to bind; the lines before it are left out.
                out.extend([lines[result], _elision(language, body_indent)]
                           if result != body[-1] else [lines[result]])
    if language != "python" and lines[end - 1].strip().startswith("}"):
        out.append(lines[end - 1])
    return start, end, "\n".join(out)


def _result_line(lines: Sequence[str], candidates: Sequence[int]) -> int | None:
    """The last one-line ``yield``/``return`` with a value among the ``candidates`` lines."""
    for i in reversed(candidates):
        stripped = lines[i].strip()
        if stripped.startswith(("yield ", "return ")) and stripped not in (
                "return None", "return None;", "yield None") \
                and stripped.rstrip(";")[-1:] not in "([{,\\":
            return i
    return None


def _members(symbol: Symbol, lines: Sequence[str], symbols: Sequence[Symbol], body_start: int,
             end: int, language: str | None, prefer: Collection[str] = ()) -> list[str]:
    """Field lines and member signatures of a class body (a few, the relevant ones)."""
    out: list[str] = []
    member_ranges = []
    for member in symbols:
        if (body_start <= member.start_line < end and member.kind in _MEMBER_KINDS
                and member.scope.rsplit(".", 1)[-1] == symbol.name):
            member_ranges.append(member)
    constructors = {"__init__", "constructor", "new", symbol.name}

    def rank(m: Symbol) -> tuple[int, int]:
        if m.name in constructors:
            return 0, m.start_line
        if m.name in prefer:
            return 1, m.start_line
        return (3 if m.name.startswith("_") else 2), m.start_line

    shown = sorted(sorted(member_ranges, key=rank)[:MAX_MEMBERS], key=lambda m: m.start_line)
    first_indent = None
    covered: set[int] = set()
    for m in member_ranges:
        covered.update(range(m.start_line, m.end_line + 1))
    covered.update(_docstring_span(lines, body_start, end - 1))
    # Fields: lines at the body's first indentation that are not inside a member.
    for i in range(body_start, end):
        line = lines[i]
        if not line.strip():
            continue
        indent = _indent(line)
        if first_indent is None:
            first_indent = indent
        if indent != first_indent or i in covered:
            continue
        stripped = line.strip()
        if stripped.startswith(("@", "#", "//", '"""', "'''", "}", "*", "/*")):
            continue
        if ("=" in stripped or ":" in stripped or stripped.endswith(";")) and len(out) < 6:
            out.append(line)
    fields = out
    sigs: list[str] = []
    for m in shown:
        # Signatures alone, as an outline (no stub bodies to imitate).
        sig_lines = m.signature.split("\n")
        indent = _indent(lines[m.start_line])
        sigs.append("\n".join([indent + sig_lines[0].lstrip(), *sig_lines[1:]]))
    del language
    return fields + sigs


def is_public_api(symbol: Symbol) -> bool:
    """A module-level name other modules use: not private, and a variable only when named
    like a constant."""
    return (not symbol.scope and not symbol.name.startswith("_") and
            (symbol.kind not in {"constant", "variable"} or symbol.name.isupper()))


def render_module_summary(symbols: Sequence[Symbol], lines: Sequence[str],
                          language: str | None, *, prefix: str = "",
                          limit: int = 30) -> tuple[int, int, str]:
    """The public top-level API of a module as stub lines (``def f(a) -> int: ...``), in file
    order; names starting with ``prefix`` first when the user began typing one."""
    chosen = [s for s in symbols if is_public_api(s)]
    if prefix:
        chosen.sort(key=lambda s: (not s.name.startswith(prefix), s.start_line))
    chosen = sorted(chosen[:limit], key=lambda s: s.start_line)
    if not chosen:
        return 0, 0, ""
    out = []
    for symbol in chosen:
        head = symbol.signature.split("\n")
        if symbol.kind in {"constant", "variable"}:
            out.append(head[0] if len(head[0]) <= 100 else head[0][:97] + "...")
        elif language == "python":
            # A stub line reads as an API listing. A bare signature with no body did not:
            # the 0.5B model ignored it and invented a name (tests/context/test_real_model).
            out.append(one_line(symbol.signature) + " ...")
        else:
            out.append("\n".join(head))
    return chosen[0].start_line, chosen[-1].end_line + 1, "\n".join(out)


def one_line(signature: str, limit: int = STUB_CHARS) -> str:
    """A (possibly multi-line) Python signature on one line, parameters elided past ``limit``
    characters: ``def get(url: URL | str, *, params: ... = None, ...):``."""
    text = " ".join(part.strip() for part in signature.split("\n") if part.strip() != "...")
    text = text.replace("( ", "(").replace(" )", ")").replace(",)", ")")
    if len(text) <= limit:
        return text
    cut = text.rfind(", ", 0, limit)
    if cut < 0:
        return text[:limit].rstrip() + " ...):"
    return text[:cut] + ", ...):"


def render_lines(lines: Sequence[str], start: int, end: int) -> str:
    """Lines ``[start, end)`` joined."""
    return "\n".join(lines[max(0, start):min(end, len(lines))])
