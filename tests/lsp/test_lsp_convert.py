"""UTF-16/UTF-8 <-> code point positions, LSP line breaks, out-of-range positions."""

from __future__ import annotations

import pytest
from codeslm.lsp.convert import InvalidPosition, LineIndex, units_len
from lsprotocol import types as lsp

from codeslm.types import Position


def P(line: int, character: int) -> lsp.Position:
    return lsp.Position(line=line, character=character)


TEXT = "a😀b = '漢字'\nsecond\r\nthird\rlast"


def test_utf16_columns_count_surrogate_pairs() -> None:
    index = LineIndex(TEXT)
    assert index.offset(P(0, 1)) == 1  # before the emoji
    assert index.offset(P(0, 3)) == 2  # after it: the emoji is two UTF-16 units
    assert index.offset(P(0, 4)) == 3  # 'b'
    assert TEXT[index.offset(P(0, 9))] == "字"
    assert index.position(TEXT.index("字")) == P(0, 9)
    with pytest.raises(InvalidPosition, match="splits a character"):
        index.offset(P(0, 2))  # inside the surrogate pair


def test_utf8_and_utf32_encodings() -> None:
    utf8 = LineIndex(TEXT, "utf-8")
    assert utf8.offset(P(0, 5)) == 2  # 'a' + 4 bytes of emoji
    assert utf8.position(TEXT.index("字")) == P(0, 13)
    utf32 = LineIndex(TEXT, "utf-32")
    assert utf32.offset(P(0, 2)) == 2
    assert units_len("😀漢", "utf-16") == 3 and units_len("😀漢", "utf-8") == 7


def test_all_lsp_line_breaks() -> None:
    index = LineIndex(TEXT)
    assert index.line_count == 4
    assert index.line(1) == "second" and index.line(2) == "third" and index.line(3) == "last"
    assert TEXT[index.offset(P(2, 0))] == "t"
    assert TEXT[index.offset(P(3, 0))] == "l"
    # The end of line 1 is before its \r\n.
    assert index.offset(P(1, 6)) == TEXT.index("\r\n")


def test_out_of_range_positions_raise() -> None:
    index = LineIndex("ab\ncd")
    with pytest.raises(InvalidPosition):
        index.offset(P(0, 3))
    with pytest.raises(InvalidPosition):
        index.offset(P(5, 0))
    with pytest.raises(InvalidPosition):
        index.offset(P(2, 0))  # a cursor is never past the last line
    assert index.offset(P(2, 0), clamp_column=True) == 5  # a range's "end of document"
    assert index.offset(P(0, 99), clamp_column=True) == 2


def test_core_positions_round_trip() -> None:
    index = LineIndex("x = '😀'\ny = '漢'\n")
    core = index.to_core(P(1, 5))
    assert core == Position(1, 5)
    assert index.from_core(Position(0, 6)) == P(0, 7)  # after the emoji: 7 UTF-16 units
