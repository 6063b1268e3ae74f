"""One character scanner for the quick, grammar-free checks of post-processing."""

from __future__ import annotations

from collections.abc import Iterator

QUOTES = "\"'`"


def code_chars(text: str, *, newline_ends_strings: bool = False) -> Iterator[tuple[int, str]]:
    """``(index, char)`` for every character of ``text`` outside quoted strings.

    A rough lexer shared by all languages: ``"``, ``'`` and a backtick open a string that the
    same quote closes, a backslash escapes the next character; quote characters are not
    yielded. With ``newline_ends_strings`` a newline also ends a ``"``/``'`` string, so one
    stray quote in a multi-line completion does not hide the rest of it.
    """
    quote: str | None = None
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote or (newline_ends_strings and ch == "\n" and quote != "`"):
                quote = None
        elif ch in QUOTES:
            quote = ch
        else:
            yield i, ch
        i += 1
