"""Single line or multi-line: decided from the code around the cursor.

- Inside a comment or a string (tree-sitter): the rest of the line only.
- Between a block's brackets (``{|}``), at the end of a line that opens a block (``:``,
  ``{``, ``=>``), or on an empty line: a block of lines.
- Anywhere else (mid-line, after code): the rest of the line.
"""

from __future__ import annotations

from ..types import CompletionMode
from . import syntax
from .hole import Hole, opens_block

_OPEN_CLOSE = {"{": "}", "(": ")", "[": "]"}


def in_comment_or_string(hole: Hole) -> bool:
    """True when the cursor is inside a comment or a string literal (needs a grammar)."""
    tree = syntax.parse(hole.language, hole.prefix + hole.suffix)
    if tree is None:
        return False
    offset = len(hole.prefix.encode("utf-8"))
    node = tree.root_node.descendant_for_byte_range(max(offset - 1, 0), offset)
    while node is not None:
        kind = node.type
        if "comment" in kind and node.start_byte < offset <= node.end_byte:
            return True
        if "string" in kind and node.start_byte < offset < node.end_byte:
            return True
        node = node.parent
    return False


def decide_mode(hole: Hole) -> CompletionMode:
    """The completion mode for ``hole`` (its ``mode`` field is ignored); see the module doc."""
    before, after = hole.before.rstrip(), hole.after.strip()
    if (before or after) and in_comment_or_string(hole):
        return CompletionMode.SINGLE_LINE
    if after:
        if before and _OPEN_CLOSE.get(before[-1]) == after[0] and before[-1] == "{":
            return CompletionMode.MULTI_LINE  # an empty block body: {|}
        return CompletionMode.SINGLE_LINE
    if opens_block(before, hole.language) and before[-1:] not in "([":
        return CompletionMode.MULTI_LINE
    if before.strip():
        return CompletionMode.SINGLE_LINE
    return CompletionMode.MULTI_LINE
