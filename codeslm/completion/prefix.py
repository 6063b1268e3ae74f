"""Drop what the completion repeats of the code *before* the cursor.

An instruction-tuned model sometimes restarts the statement it is asked to finish: after
``result = await `` it writes ``await Runner.run(...)`` (``await await`` parses in Python, so
the syntax checks let it through), and after ``async for event in result.`` it writes the
whole line again. Both are cut here; the rest of the completion is left to the other rules.
"""

from __future__ import annotations

import re

# Words that never stand twice in a row in any supported language (``not not x`` does in
# Python, so ``not`` is absent); a completion starting with the word the cursor follows
# repeats it.
_NEVER_DOUBLED = frozenset({
    "await", "return", "yield", "async", "import", "from", "in", "for", "if", "elif", "else",
    "while", "with", "raise", "throw", "new", "def", "class", "fn", "func", "let", "const",
    "var", "pub", "lambda", "assert", "del", "case", "typeof", "instanceof", "delete", "go",
    "defer", "struct", "impl", "match", "public", "private", "protected", "static", "final",
})
_LAST_WORD = re.compile(r"(?:^|[^\w.])([A-Za-z_]\w*)[ \t]+$")
MIN_RESTATED_CHARS = 6  # a shorter line start (``x = ``) may well be what comes next


def drop_prefix_repeat(text: str, before: str) -> str:
    """``text`` without a restatement of ``before`` (the cursor line's text before the
    cursor): the whole of it (at least ``MIN_RESTATED_CHARS`` characters), or the keyword
    right before the cursor (``await `` + ``await f()`` -> ``f()``). Unchanged otherwise."""
    stated = before.strip()
    if not stated:
        return text
    body = text.lstrip(" \t")
    if len(stated) >= MIN_RESTATED_CHARS and body.startswith(stated) and body != stated:
        rest = body[len(stated):]
        return rest.lstrip(" \t") if before[-1:].isspace() else rest
    found = _LAST_WORD.search(before)
    if found and found.group(1) in _NEVER_DOUBLED:
        word = found.group(1)
        if re.match(rf"{word}[ \t]+\S", body):
            return body[len(word):].lstrip(" \t")
    return text
