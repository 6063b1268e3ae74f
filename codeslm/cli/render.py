"""Streaming model output to a terminal: highlighted settled lines on a TTY, raw text otherwise.

Lines are printed once they are complete (a line never changes after it is shown), so long
answers scroll normally; code inside fences is highlighted with pygments for its language.
"""

from __future__ import annotations

import re
import sys
from typing import Any, TextIO

_FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+#.-]*)")


class StreamPrinter:
    """Write streamed text to ``out``; highlighted when ``color`` is true."""

    def __init__(self, out: TextIO = sys.stdout, *, color: bool, language: str | None) -> None:
        self._out = out
        self._color = color
        self._language = language
        self._pending = ""
        self._lexer: Any = None
        self._formatter: Any = None
        self._ends_with_newline = True
        if color:
            from pygments.formatters import Terminal256Formatter

            self._formatter = Terminal256Formatter(style="monokai")

    def write(self, text: str) -> None:
        if not self._color:
            self._out.write(text)
            self._out.flush()
            if text:
                self._ends_with_newline = text.endswith("\n")
            return
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._emit(line + "\n")
        self._out.flush()

    def close(self) -> None:
        """Flush what is left and end the output with a newline."""
        if not self._color and not self._ends_with_newline:
            self._out.write("\n")
            self._ends_with_newline = True
        if self._pending:
            self._emit(self._pending if not self._color else self._pending + "\n")
            self._pending = ""
        self._out.flush()

    def _emit(self, line: str) -> None:
        if not self._color:
            self._out.write(line)
            return
        fence = _FENCE.match(line)
        if fence:
            if self._lexer is None:
                self._lexer = self._lexer_for(fence.group(2) or self._language)
            else:
                self._lexer = None
            self._out.write(f"\x1b[2m{line}\x1b[0m")
            return
        if self._lexer is not None:
            from pygments import highlight

            self._out.write(highlight(line, self._lexer, self._formatter))
        else:
            self._out.write(line)

    @staticmethod
    def _lexer_for(language: str | None) -> Any:
        from pygments.lexers import TextLexer, get_lexer_by_name
        from pygments.util import ClassNotFound

        try:
            return get_lexer_by_name(language or "text", stripnl=False, ensurenl=False)
        except ClassNotFound:
            return TextLexer(stripnl=False, ensurenl=False)
