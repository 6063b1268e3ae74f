"""Fit a change into a token budget: whole patches, truncated patches, or units to summarise.

Patches are rendered compactly (no ``index`` or ``---``/``+++`` lines) and counted with the
served model's tokenizer. When everything fits, everything is sent. Otherwise the budget is
shared out "water-filling" style: small patches go in whole, and the rest split what is left
equally, each cut at a hunk and then a line boundary with a marker saying how much was cut.
With so many files that an equal part would say nothing, whole patches go in smallest first
instead. For map-reduce, :func:`units` packs patches into pieces that each fit the budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .diff import DiffLine, FileDiff, Hunk

Counter = Callable[[str], Awaitable[int]]


def _header(file: FileDiff) -> str:
    """Git's header lines minus ``index`` and the ``---``/``+++`` pair, which repeat what
    ``diff --git`` says: on a small file they are most of the tokens."""
    kept = [h for h in file.header if not h.startswith(("index ", "--- ", "+++ "))]
    return "\n".join(kept) + "\n" if kept else ""


def render_patch(file: FileDiff) -> str:
    """The patch of ``file`` as sent to a model (see :func:`_header`)."""
    return _header(file) + "".join(h.text() for h in file.hunks)


@dataclass(slots=True)
class Fitted:
    """The patch text chosen for a prompt and what did not fit."""

    text: str
    tokens: int
    total_tokens: int  # of all the patches, before cutting
    cut_files: list[str]  # patches shortened to fit
    dropped_files: list[str]  # patches left out entirely (only their stat line remains)

    @property
    def complete(self) -> bool:
        return not self.cut_files and not self.dropped_files


async def fit(files: list[FileDiff], budget: int, count: Counter) -> Fitted:
    """Patches of ``files`` within ``budget`` tokens (see the module docstring)."""
    patches = [render_patch(f) for f in files]
    sizes = [await count(p) for p in patches]
    total = sum(sizes)
    if total <= budget:
        return Fitted("".join(patches), total, total, [], [])
    shares = _water_fill(sizes, budget)
    if min(s for s, n in zip(shares, sizes, strict=True) if s < n) < _MIN_USEFUL:
        shares = _smallest_first(sizes, budget, _order_for_many(files, sizes))
    parts: list[str] = []
    used = 0
    cut: list[str] = []
    dropped: list[str] = []
    carry = 0  # what earlier cuts left of their share (a cut ends at a line, or says nothing)
    for file, patch, size, share in zip(files, patches, sizes, shares, strict=True):
        if share >= size:
            parts.append(patch)
            used += size
            continue
        allowed = share + carry
        text = await truncate(file, allowed, count) if share > 0 else ""
        spent = await count(text) if text else 0
        carry = allowed - spent if share > 0 else carry
        if not text:
            dropped.append(file.path)
            continue
        cut.append(file.path)
        parts.append(text)
        used += spent
    return Fitted("".join(parts), used, total, cut, dropped)


def _water_fill(sizes: list[int], budget: int) -> list[int]:
    """Per-item shares of ``budget``: items below the fair share get all they need."""
    shares = [0] * len(sizes)
    remaining = list(range(len(sizes)))
    left = budget
    while remaining:
        fair = left // len(remaining)
        small = [i for i in remaining if sizes[i] <= fair]
        if not small:
            for i in remaining:
                shares[i] = fair
            break
        for i in small:
            shares[i] = sizes[i]
            left -= sizes[i]
        remaining = [i for i in remaining if i not in small]
    return shares


_MIN_USEFUL = 24  # tokens: below this a cut patch says nothing; drop it instead


def _smallest_first(sizes: list[int], budget: int, order: list[int]) -> list[int]:
    """Shares for too many files to give each a useful part: whole patches in ``order``, then
    what is left to the next one; the rest get nothing (they stay in the file list)."""
    shares = [0] * len(sizes)
    left = budget
    for i in order:
        if sizes[i] <= left:
            shares[i] = sizes[i]
            left -= sizes[i]
        else:
            shares[i] = left if left >= _MIN_USEFUL else 0
            break
    return shares


_BULK_FILES = 20  # a top folder with more changed files than this, and most of them, is bulk


def _order_for_many(files: list[FileDiff], sizes: list[int]) -> list[int]:
    """The order in which :func:`_smallest_first` sends whole patches: smallest first, but
    after the others the files of a bulk folder (700 test data files beside 2 changed source
    files: the file list already says "tests/: 700 files added") and patches that change no
    line (an empty file added: its header says nothing the list does not)."""
    tops = [f.path.split("/", 1)[0] if "/" in f.path else "" for f in files]
    counts: dict[str, int] = {}
    for top in tops:
        counts[top] = counts.get(top, 0) + 1
    bulk = {t for t, n in counts.items() if t and n > _BULK_FILES and 2 * n > len(files)}

    def key(i: int) -> tuple[bool, bool, int]:
        return tops[i] in bulk, files[i].added + files[i].deleted == 0, sizes[i]

    return sorted(range(len(files)), key=key)


async def truncate(file: FileDiff, budget: int, count: Counter) -> str:
    """The start of ``file``'s patch within ``budget`` tokens, with a cut marker ('' if none)."""
    if budget < _MIN_USEFUL:
        return ""
    head = _header(file)
    total_changed = file.added + file.deleted
    # Room for the cut marker, sized for the largest count it can show.
    reserve = await count(_marker(total_changed, file.path))
    used = await count(head) + reserve
    out = [head]
    shown = 0
    for hunk in file.hunks:
        text = hunk.text()
        size = await count(text)
        if used + size <= budget:
            out.append(text)
            used += size
            shown += _changed(hunk)
            continue
        used += await count(hunk.header + "\n")
        lines = [hunk.header]
        for line in _from_first_change(hunk):
            candidate = f"{line.kind}{line.text}\n"
            # Lines are counted one by one: exact, and cheap next to the prompt evaluation.
            size = await count(candidate)
            if used + size > budget:
                break
            lines.append(candidate.rstrip("\n"))
            used += size
            shown += line.kind != " "
        if len(lines) > 1:
            out.append("\n".join(lines) + "\n")
        break
    if shown == 0 and total_changed:
        return ""
    if shown < total_changed:
        out.append(_marker(total_changed - shown, file.path))
    return "".join(out)


def _from_first_change(hunk: Hunk) -> list[DiffLine]:
    """The lines of a hunk that is being cut, from its first changed line: the context lines
    before it would use a small share up and show no change (the ``@@`` line already names
    the place)."""
    for i, line in enumerate(hunk.lines):
        if line.kind != " ":
            return hunk.lines[i:]
    return hunk.lines


def _marker(hidden: int, path: str) -> str:
    return f"[... {hidden} more changed lines of {path} not shown]\n"


def _changed(hunk: Hunk) -> int:
    return sum(1 for ln in hunk.lines if ln.kind != " ")


async def units(files: list[FileDiff], budget: int, count: Counter) -> list[tuple[str, str]]:
    """Pieces for the map step, as ``(label, patch)``, each within ``budget`` tokens.

    Small patches are packed together in diff order; a patch over the budget becomes one
    piece cut to the budget (its summary then covers the part shown, and says so).
    """
    pieces: list[tuple[str, str]] = []
    names: list[str] = []
    texts: list[str] = []
    used = 0

    def flush() -> None:
        nonlocal names, texts, used
        if texts:
            pieces.append((", ".join(names), "".join(texts)))
        names, texts, used = [], [], 0

    for file in files:
        patch = render_patch(file)
        size = await count(patch)
        if size > budget:
            flush()
            cut = await truncate(file, budget, count)
            if cut:
                pieces.append((file.path, cut))
            continue
        if used + size > budget:
            flush()
        names.append(file.path)
        texts.append(patch)
        used += size
    flush()
    return pieces
