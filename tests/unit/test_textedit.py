"""Minimal edits: the smallest replacements that turn a region's old text into the new."""

from __future__ import annotations

import itertools

import pytest

from codeslm.textedit import apply_edits, apply_offsets, diff_offsets, region_edits
from codeslm.types import Position, Range

CASES = [
    ("a\nb\nc\n", "a\nB\nc\n"),
    ("x = 1\n", "x = 2\n"),
    ("def f():\n    return 1\n", 'def f():\n    """Doc."""\n    return 1\n'),
    ("one\ntwo\nthree\n", "one\nthree\n"),
    ("", "new\n"),
    ("same\n", "same\n"),
    ("naïve 😀 café\n", "naïve 😀😀 café\n"),
    ("a\r\nb\r\n", "a\r\nc\r\n"),
    ("no newline", "no newline at all"),
]


@pytest.mark.parametrize(("old", "new"), CASES)
def test_diff_offsets_round_trip(old: str, new: str) -> None:
    edits = diff_offsets(old, new)
    assert apply_offsets(old, edits) == new
    # Non-overlapping and ascending, as LSP requires for one TextEdit array.
    for a, b in itertools.pairwise(edits):
        assert a.end <= b.start


def test_unchanged_lines_are_not_touched() -> None:
    old = "keep 1\nkeep 2\nchange me\nkeep 3\n"
    new = "keep 1\nkeep 2\nchanged\nkeep 3\n"
    (edit,) = diff_offsets(old, new)
    assert old[edit.start:edit.end] == " me"
    assert edit.new_text == "d"


def test_region_edits_are_in_document_positions() -> None:
    text = "import os\n\ndef f(x):\n    return x*2\n"
    start = text.index("    return")
    end = len(text)
    edits = region_edits(text, start, end, "    return x * 2\n")
    assert all(e.range.start.line == 3 for e in edits)
    assert apply_edits(text, edits) == "import os\n\ndef f(x):\n    return x * 2\n"


def test_region_outside_text_is_refused() -> None:
    with pytest.raises(ValueError):
        region_edits("abc", 2, 10, "x")


def test_apply_edits_with_positions() -> None:
    text = "héllo\nwörld\n"
    edits = region_edits(text, 6, 11, "WÖRLD")
    assert edits[0].range == Range(Position(1, 0), Position(1, 5))
    assert apply_edits(text, edits) == "héllo\nWÖRLD\n"
