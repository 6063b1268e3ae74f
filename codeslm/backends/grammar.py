"""GBNF grammars for llama.cpp's servers (``llama-server`` and llama-cpp-python's), which take a
``grammar`` field where the embedded backend takes a logits processor."""

from __future__ import annotations

from collections.abc import Sequence

# Anything that does not go on with an identifier character (or nothing at all).
_REST = "rest ::= [^a-zA-Z0-9_] [^\\x00]*\n"


def leading_identifier(names: Sequence[str]) -> str:
    """A grammar for ``GenerationRequest.first_identifier``: the output starts with one of
    ``names`` (an empty one: the output may also end or go on at once), then ends or goes on
    with a character that cannot continue an identifier."""
    words = sorted({n for n in names if n})
    if not all(w.isascii() and w.replace("_", "a").isalnum() for w in words):
        raise ValueError("leading_identifier takes identifiers only")
    if not words:
        return "root ::= rest?\n" + _REST
    head = "(" + " | ".join(f'"{w}"' for w in words) + ")" + ("?" if "" in names else "")
    return f"root ::= {head} rest?\n" + _REST
