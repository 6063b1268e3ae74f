"""What to show of a generation that is still running (a suggestion shown early).

A suggestion made while the user types must arrive before the next keystroke; on a laptop CPU
a long line takes longer than that to decode (about 40 ms per token for the 0.5B model on two
cores, so a 25-token line takes a second). The engine may therefore show what the model has
written by a set time while the generation goes on in the background (the whole answer then
replaces it in the typed-ahead cache). :func:`early_raw` decides which part of the text so far
can be shown: whole lines of a multi-line completion, else the first line without a word the
model may still be writing (``self._look`` of ``self._lookup``). llama.vim's time limit on
prediction (``t_max_predict_ms``) is the same trade: a shorter suggestion now over a longer one
too late.
"""

from __future__ import annotations

import re

from ..types import CompletionMode

# Visible characters a text shown early must have: a word or two, not a lone token.
MIN_SHOWN_CHARS = 6

_WORD_TAIL = re.compile(r"\w+$")


def early_raw(raw: str, mode: CompletionMode, whole_lines: list[str]) -> str | None:
    """The part of ``raw`` (a generation cut before its end) to post-process and show, or
    None when it has too little to show yet.

    ``whole_lines`` are the complete lines of ``raw`` (the stream stopper's view): a
    multi-line completion shows those; otherwise, the first line is shown without a trailing
    word (which may be the start of a longer one) and without trailing spaces.
    """
    if mode is not CompletionMode.SINGLE_LINE and any(line.strip() for line in whole_lines):
        return raw[: raw.rfind("\n") + 1]
    lead = raw[: len(raw) - len(raw.lstrip("\n"))]  # blank lines before the first one
    first = raw[len(lead) :].split("\n", 1)[0]
    shown = _WORD_TAIL.sub("", first).rstrip()
    if len(shown.strip()) < MIN_SHOWN_CHARS:
        return None
    return lead + shown


def early_text(processed: str, written: str) -> str | None:
    """What to show of a line cut before its end: ``processed`` (the post-processed cut) as far
    as it agrees with ``written`` (what the model wrote, with the cursor line's lead), or None
    when that is too little.

    Post-processing judges a line as finished: it may close the brackets the model left open
    (``sorted(items,`` becomes ``sorted(items,)``), which the rest of the line will do instead.
    """
    agreed = 0
    for a, b in zip(processed, written, strict=False):
        if a != b:
            break
        agreed += 1
    shown = processed[:agreed].rstrip()
    return shown if len(shown.strip()) >= MIN_SHOWN_CHARS else None
