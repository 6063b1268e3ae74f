"""Ending a generation as soon as its completion is decided.

The engine feeds streamed text to a :class:`StreamStopper` and closes the stream (which
cancels the generation in the backend) when the stopper says the rest cannot be shown: a
single-line completion once its line is complete (a line that opens brackets is complete with
the line that closes them: the model spreads a call over lines); a multi-line completion
once it leaves the cursor's code unit, starts repeating the code after the cursor, or loops.
The rules are the post-processing rules applied to whole lines, so stopping never removes
anything post-processing would have kept. One rule also reads the line still being written:
leaving the code unit depends only on a line's indentation, which its first character fixes,
so a model that closes a function and goes on to write the next one is stopped at the ``d`` of
``def`` instead of after the whole header (~15 tokens, half a second on a laptop CPU).
"""

from __future__ import annotations

from ..types import CompletionMode
from .brackets import MAX_JOINED_LINES, closing_line
from .hole import Hole, is_closer_line
from .repetition import repetition_cut
from .scope import scope_end
from .suffix import anchor_cut


class StreamStopper:
    """Decides, from the text generated so far, whether generating more can change the result."""

    def __init__(self, hole: Hole, mode: CompletionMode) -> None:
        self.hole = hole
        self.mode = mode
        self.reason: str | None = None
        self._checked_lines = 0
        self._checked_partial = -1  # the last line whose first character was checked

    def whole_lines(self, text: str) -> list[str]:
        """Complete lines of ``text`` (leading blank lines skipped at a line start)."""
        if self.hole.at_line_start:
            while "\n" in text and not text[: text.index("\n")].strip():
                text = text[text.index("\n") + 1 :]
        return text.split("\n")[:-1]

    def first_line_done(self, text: str) -> bool:
        """The first non-blank line of ``text`` is complete."""
        return any(line.strip() for line in self.whole_lines(text))

    def should_stop(self, text: str) -> bool:
        """True when ``text`` (everything generated so far) decides the completion."""
        if "\n" not in text:
            return False
        lines = self.whole_lines(text)
        if self.mode is not CompletionMode.SINGLE_LINE and self._line_leaves_unit(lines, text):
            self.reason = "left the code unit"
            return True
        if len(lines) == self._checked_lines:
            return False
        self._checked_lines = len(lines)
        if not any(line.strip() for line in lines):
            return False
        if self.mode is CompletionMode.SINGLE_LINE:
            first = next(i for i, line in enumerate(lines) if line.strip())
            spread = lines[first:]
            if closing_line("\n".join(spread)) is None and len(spread) <= MAX_JOINED_LINES \
                    and not self.hole.below_continues(spread[0]):
                return False  # a call spread over lines: post-processing joins it when closed
            self.reason = "line complete"
            return True
        if repetition_cut(lines) < len(lines):
            self.reason = "repetition"
            return True
        if scope_end(lines, self.hole) is not None:
            self.reason = "left the code unit"
            return True
        found = anchor_cut(lines, self.hole)
        if found is not None and found[1]:
            self.reason = "repeats the suffix"
            return True
        return False

    def _line_leaves_unit(self, lines: list[str], text: str) -> bool:
        """The line being written (after ``lines``) leaves the cursor's code unit whatever its
        remaining tokens are: its first character sits at or left of the unit's header, and it
        cannot become a line that only closes the unit (the one such line ``scope_end`` keeps,
        outside Python). Checked once per line, when that first character arrives."""
        partial = text[text.rfind("\n") + 1 :]
        first = partial.lstrip()[:1]
        if not lines or not first or self._checked_partial == len(lines):
            return False
        self._checked_partial = len(lines)
        if is_closer_line(first) and self.hole.language != "python":
            return False
        return scope_end([*lines, partial], self.hole) == len(lines)
