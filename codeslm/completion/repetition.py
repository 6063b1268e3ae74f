"""Cut repetition loops: small models under greedy decoding often repeat a line or a block of
lines until they run out of tokens."""

from __future__ import annotations

MAX_BLOCK = 6  # lines in the longest repeated block looked for


def repetition_cut(lines: list[str]) -> int:
    """Number of leading lines to keep so that no loop remains.

    A loop is a line repeated three times in a row, or a block of 2 to ``MAX_BLOCK`` lines
    (with at least 12 characters of code) repeated twice in a row. The first copy is kept.
    Blank lines count as part of a block but a run of blank lines is never a loop.
    """
    n = len(lines)
    for start in range(n):
        for size in range(1, MAX_BLOCK + 1):
            copies = 3 if size == 1 else 2
            end = start + size * copies
            if end > n:
                break
            block = [ln.rstrip() for ln in lines[start : start + size]]
            if sum(len(ln.strip()) for ln in block) < (1 if size == 1 else 12):
                continue
            if all(
                [ln.rstrip() for ln in lines[start + k * size : start + (k + 1) * size]] == block
                for k in range(1, copies)
            ):
                return start + size
    return n
