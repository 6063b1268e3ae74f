"""Turn raw model output into a completion worth showing. Pure functions, shared by every surface.

The rules here are deliberately simple string rules; the syntax-aware rules (tree-sitter mode
decision, syntax-validated truncation, bracket balancing) build on top of them.
"""

from __future__ import annotations

from .types import CompletionMode


def split_line(prefix: str, suffix: str) -> tuple[str, str]:
    """The text of the cursor's line before and after the cursor."""
    before = prefix[prefix.rfind("\n") + 1 :]
    newline = suffix.find("\n")
    after = suffix if newline < 0 else suffix[:newline]
    return before, after.rstrip("\r")


def decide_mode(prefix: str, suffix: str) -> CompletionMode:
    """Single line when the cursor is mid-line (code after it) or after code on its line;
    multi-line on an empty or whitespace-only line."""
    before, after = split_line(prefix, suffix)
    if after.strip():
        return CompletionMode.SINGLE_LINE
    if before.rstrip().endswith((":", "{", "=>")):
        return CompletionMode.MULTI_LINE  # a block opener at the end of the line: its body
    if before.strip():
        return CompletionMode.SINGLE_LINE
    return CompletionMode.MULTI_LINE


def trim_line_suffix_overlap(text: str, line_after: str) -> str:
    """Drop a tail of ``text`` that repeats the start of the rest of the cursor's line.

    ``return x|)`` with the model writing ``a + b)`` becomes ``a + b``.
    """
    rest = line_after.strip()
    if not rest:
        return text
    stripped = text.rstrip()
    if stripped.endswith(rest):
        return stripped[: len(stripped) - len(rest)].rstrip(" ") if len(stripped) > len(rest) else ""
    for k in range(min(len(rest), len(stripped)), 0, -1):
        if stripped.endswith(rest[:k]):
            return stripped[: len(stripped) - k]
    return text


def cut_at_suffix_lines(text: str, suffix: str) -> str:
    """Cut a multi-line completion where it starts repeating the code after the cursor.

    The cut happens at the first completion line equal (ignoring surrounding whitespace) to the
    first non-blank line of the suffix after the cursor's own line.
    """
    later = suffix.split("\n")[1:]
    anchor = next((line.strip() for line in later if line.strip()), None)
    if anchor is None:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and line.strip() == anchor:
            return "\n".join(lines[:i]).rstrip()
    return text


def postprocess(raw: str, *, prefix: str, suffix: str, mode: CompletionMode) -> str:
    """Apply the basic rules: one line in single-line mode, no repetition of the suffix."""
    text = raw.replace("\r\n", "\n")
    _, line_after = split_line(prefix, suffix)
    if mode is CompletionMode.SINGLE_LINE:
        newline = text.find("\n")
        if newline >= 0:
            text = text[:newline]
        text = trim_line_suffix_overlap(text, line_after).rstrip()
        return text
    text = cut_at_suffix_lines(text, suffix)
    if "\n" not in text:
        return trim_line_suffix_overlap(text, line_after).rstrip()
    return text.rstrip()
