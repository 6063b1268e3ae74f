"""The prompt window around the cursor (``codeslm.context.port.window``): limits, whole lines,
and ends that stay put while the user types or moves a few lines (the KV cache's reuse)."""

from __future__ import annotations

from codeslm.context.port import window

LINES = [f"    value_{i} = compute(value_{i - 1}, {i})  # step {i}" for i in range(400)]
TEXT = "\n".join(LINES) + "\n"


def _offset_of_line(text: str, line: int) -> int:
    return sum(len(x) + 1 for x in text.split("\n")[:line])


def test_the_window_keeps_whole_lines_within_the_limits() -> None:
    offset = _offset_of_line(TEXT, 200) + 10
    prefix, suffix = window(TEXT, offset, 3000, 1000)
    assert TEXT[:offset].endswith(prefix) and TEXT[offset:].startswith(suffix)
    assert 3000 * 3 // 4 - 60 <= len(prefix) <= 3000
    assert 1000 // 2 - 60 <= len(suffix) <= 1000
    assert prefix.startswith("    value_") and suffix.endswith("\n")


def test_typing_at_the_cursor_keeps_both_ends_of_the_window() -> None:
    offset = _offset_of_line(TEXT, 200) + 12
    prefix, suffix = window(TEXT, offset, 3000, 1000)
    text = TEXT
    for typed in "total = sum(values)":
        text = text[:offset] + typed + text[offset:]
        offset += 1
        now_prefix, now_suffix = window(text, offset, 3000, 1000)
        assert now_prefix.startswith(prefix[:200])  # the same first line
        assert now_suffix == suffix  # the text after the cursor has not changed


def test_moving_a_few_lines_keeps_both_ends_mostly() -> None:
    """Moving the cursor line by line changes an end only when a quarter-window step is
    crossed, so most moves of a few lines keep both ends (and the KV cache's tail)."""
    kept = 0
    base = _offset_of_line(TEXT, 150)
    for line in range(150, 190):
        before_p, before_s = window(TEXT, base, 3000, 1000)
        offset = _offset_of_line(TEXT, line + 3)
        after_p, after_s = window(TEXT, offset, 3000, 1000)
        same_start = TEXT.index(before_p, max(0, base - 3000)) == TEXT.index(
            after_p, max(0, offset - 3000)
        )
        same_end = base + len(before_s) == offset + len(after_s)
        kept += same_start and same_end
        base = _offset_of_line(TEXT, line + 1)
    # A 3-line move is ~145 characters and a step 750 (prefix) or 500 (suffix): about 23 of
    # 40 moves keep both ends (the window before this change kept none: its end followed the
    # cursor).
    assert kept >= 20


def test_a_short_text_is_not_cut_and_a_huge_line_stays_whole() -> None:
    assert window("a = 1\nb = 2\n", 6, 3000, 1000) == ("a = 1\n", "b = 2\n")
    line = "x" * 5000
    prefix, suffix = window(line, 2500, 1000, 1000)
    assert prefix == "x" * 2500  # the cursor's line is kept whole before the cursor
    assert suffix.startswith("x" * 1000)
