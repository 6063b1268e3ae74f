"""Reading source files safely and converting positions.

Every refusal is an :class:`InputError` with a one-line message naming the file: missing,
a directory, unreadable, binary, too large, or not UTF-8 text.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .fileio import read_limited
from .types import Document, Position

DEFAULT_MAX_BYTES = 2_000_000

# File extension -> tree-sitter language name (the context builder and post-processing use it).
EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript",
    ".cjs": "javascript", ".jsx": "javascript", ".ts": "typescript", ".mts": "typescript",
    ".cts": "typescript", ".tsx": "tsx", ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp",
    ".hh": "cpp", ".hxx": "cpp", ".rb": "ruby", ".lua": "lua", ".sh": "bash", ".bash": "bash",
    ".kt": "kotlin", ".swift": "swift", ".cs": "c_sharp", ".php": "php", ".scala": "scala",
    ".sql": "sql", ".html": "html", ".css": "css", ".json": "json", ".toml": "toml",
    ".yaml": "yaml", ".yml": "yaml", ".md": "markdown",
}

# Line comment per language, for path headers of languages without file separator tokens.
LINE_COMMENTS: dict[str, str] = {
    "python": "#", "ruby": "#", "bash": "#", "toml": "#", "yaml": "#", "lua": "--", "sql": "--",
}

# Names of fenced code blocks for a language (``gen --lang``), and the reverse.
LANGUAGE_ALIASES: dict[str, str] = {
    "py": "python", "js": "javascript", "ts": "typescript", "rs": "rust", "golang": "go",
    "c++": "cpp", "cxx": "cpp", "sh": "bash", "shell": "bash", "cs": "c_sharp", "csharp": "c_sharp",
}


def language_for(path: str | Path | None) -> str | None:
    """Tree-sitter language name for a file name, or None when unknown."""
    if path is None:
        return None
    return EXTENSIONS.get(Path(path).suffix.lower())


def normalise_language(name: str | None) -> str | None:
    """``py`` -> ``python`` and so on; None stays None."""
    if not name:
        return None
    lowered = name.strip().lower()
    return LANGUAGE_ALIASES.get(lowered, lowered)


def line_comment(language: str | None) -> str:
    """The line comment marker of a language (``//`` when unknown)."""
    return LINE_COMMENTS.get(language or "", "//")


def looks_binary(data: bytes) -> bool:
    """True for data that is not text: a NUL byte in the first 8 KiB."""
    return b"\x00" in data[:8192]


def read_document(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """Read a UTF-8 source file into a :class:`Document`, refusing anything that is not text."""
    p = Path(path)
    # Bounded while reading, and only regular files: /dev/zero, a FIFO or /proc/... say 0
    # bytes to stat and would otherwise be read forever (or block).
    data = read_limited(p, max_bytes)
    if looks_binary(data):
        raise InputError(f"{p}: looks like a binary file, not source code")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{p}: not UTF-8 text (bad byte at offset {exc.start})") from None
    return Document(text=text, path=str(p), language=language_for(p))


def offset_of(text: str, position: Position) -> int:
    """String offset of a 0-based line/code-point position; InputError if out of range."""
    if position.line < 0 or position.character < 0:
        raise InputError(f"position {position.line + 1}:{position.character + 1} is negative")
    lines = text.split("\n")
    if position.line >= len(lines):
        raise InputError(
            f"line {position.line + 1} is past the end of the file ({len(lines)} lines)"
        )
    line = lines[position.line].rstrip("\r")
    if position.character > len(line):
        raise InputError(
            f"column {position.character + 1} is past the end of line {position.line + 1} "
            f"({len(line)} characters; the last valid column is {len(line) + 1})"
        )
    return sum(len(lines[i]) + 1 for i in range(position.line)) + position.character


def position_at(text: str, offset: int) -> Position:
    """The 0-based position of a string offset."""
    before = text[:offset]
    line = before.count("\n")
    return Position(line, offset - (before.rfind("\n") + 1))


def parse_location(spec: str) -> tuple[str, Position]:
    """Parse ``FILE:LINE:COL`` (1-based, as in compiler messages) into a path and a 0-based
    position. ``FILE:LINE`` means the end of that line."""
    parts = spec.rsplit(":", 2)
    try:
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            path, line, col = parts[0], int(parts[1]), int(parts[2])
        elif len(parts) >= 2 and parts[-1].isdigit():
            path, line, col = spec.rsplit(":", 1)[0], int(parts[-1]), -1
        else:
            raise ValueError
    except ValueError:
        raise InputError(
            f"{spec!r} is not FILE:LINE:COL", hint="e.g. codeslm complete app.py:12:5"
        ) from None
    if not path:
        raise InputError(f"{spec!r} has no file name")
    if line < 1 or col == 0 or col < -1:
        raise InputError(f"{spec!r}: lines and columns start at 1")
    return path, Position(line - 1, col - 1 if col > 0 else -1)


def resolve_end_of_line(text: str, position: Position) -> Position:
    """Replace a column of -1 (``FILE:LINE``) by the end of that line."""
    if position.character >= 0:
        return position
    lines = text.split("\n")
    if position.line >= len(lines):
        raise InputError(
            f"line {position.line + 1} is past the end of the file ({len(lines)} lines)"
        )
    return Position(position.line, len(lines[position.line].rstrip("\r")))


def position_after(document: Document, position: Position, typed: str) -> Position:
    """Where the cursor is after ``typed`` is inserted at ``position`` (for callers of the
    typed-ahead cache)."""
    offset = offset_of(document.text, position)
    return position_at(document.text[:offset] + typed, offset + len(typed))
