"""Reading source files and converting positions, with one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.documents import offset_of, parse_location, position_at, read_document
from codeslm.errors import InputError
from codeslm.types import Position


def test_parse_location_forms() -> None:
    assert parse_location("a.py:3:5") == ("a.py", Position(2, 4))
    assert parse_location("dir/a b.py:1:1") == ("dir/a b.py", Position(0, 0))
    assert parse_location("a.py:7") == ("a.py", Position(6, -1))
    for bad in ("a.py", "a.py:x", ":3:4", "a.py:0:1", "a.py:1:0"):
        with pytest.raises(InputError):
            parse_location(bad)


def test_offsets_round_trip_with_unicode() -> None:
    text = "héllo\n😀 x = 1\nlast"
    for offset in range(len(text) + 1):
        assert offset_of(text, position_at(text, offset)) == offset


def test_out_of_range_positions_say_where() -> None:
    text = "ab\ncd\n"
    with pytest.raises(InputError, match="line 9 is past the end of the file"):
        offset_of(text, Position(8, 0))
    with pytest.raises(
        InputError, match=r"column 4 is past the end of line 1 .* last valid column is 3"
    ):
        offset_of(text, Position(0, 3))


def test_read_document_refuses_what_is_not_source(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_document(tmp_path / "missing.py")
    with pytest.raises(InputError, match="is a directory"):
        read_document(tmp_path)
    (tmp_path / "blob.bin").write_bytes(b"\x7fELF\x00\x00\x01")
    with pytest.raises(InputError, match="binary"):
        read_document(tmp_path / "blob.bin")
    (tmp_path / "big.py").write_text("x = 1\n" * 100)
    with pytest.raises(InputError, match="too large"):
        read_document(tmp_path / "big.py", max_bytes=100)
    (tmp_path / "latin.py").write_bytes(b"s = '\xe9'\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_document(tmp_path / "latin.py")
    (tmp_path / "ok.ts").write_text("let x = 1;\n")
    doc = read_document(tmp_path / "ok.ts")
    assert doc.language == "typescript" and doc.text == "let x = 1;\n"
