"""KV insertion: reuse the cached text *after* an edit, not only the text before it.

A fill-in-the-middle prompt puts the text after the cursor behind ``<|fim_suffix|>``, so a
keystroke inserts tokens in the middle of the previous prompt. llama.cpp's prefix reuse (and
llama-server's ``--cache-reuse``) keep only what comes before the insertion and evaluate the
rest again: about 220 tokens per keystroke in the default layout. This module keeps the tail
too. It finds the longest common prefix and suffix of the previous and the new prompt, moves
the cached tail to its new positions with llama.cpp's memory API (``seq_add`` applies the RoPE
shift) and evaluates only the inserted tokens plus the prompt's last token, whose logits start
the generation.

It is an approximation: the shifted tail was computed against the old text around the cursor,
not the new one. ``benchmarks/RESULTS.md`` measures what it costs in quality.

llama.cpp requires that a sequence's new tokens continue right after its highest cached
position, so the tail cannot stay in sequence 0 while the inserted tokens are evaluated before
it. It waits in a parking sequence (1) meanwhile and is joined back afterwards; the context
therefore needs ``n_seq_max >= 2`` and a unified KV cache (see :func:`context_params`).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any

# A shifted tail shorter than this is not worth the bookkeeping (and the approximation).
MIN_TAIL_TOKENS = 16
# The approximation is for typing: an edit larger than this (a paste, a new window or other
# cross-file context) is evaluated in full rather than read past by a tail computed against
# quite different text.
MAX_EDIT_TOKENS = 48
# A pure removal may be larger: the prompt window's start moving on as the user types down
# the file (a step of a quarter window, ~200 tokens), or deleted lines. The tail then keeps
# values computed with more text before it, not different text, as llama.cpp's own context
# shift and llama-server's cache reuse do; evaluating the whole tail again would cost seconds.
MAX_REMOVAL_TOKENS = 512
# ... with at most this many tokens inserted: the text at the cut tokenizes differently once
# what came before it is gone (a newline merges with the indentation after it).
REMOVAL_RETOKENIZED = 2
_MAIN_SEQ = 0
_PARK_SEQ = 1


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


@dataclasses.dataclass(frozen=True, slots=True)
class InsertionPlan:
    """How to turn the cached previous prompt into the new one.

    ``keep`` tokens at the start are unchanged; ``tail`` tokens at the end of both prompts are
    equal, of which all but the prompt's last token are reused at positions shifted by
    ``shift``; the new tokens between are evaluated, and so are the first ``refresh`` tail
    tokens: they sit right after the edit, where the old text around the cursor shaped their
    cached values most.
    """

    keep: int
    tail: int
    old_length: int
    new_length: int
    refresh: int = 0

    @property
    def shift(self) -> int:
        return self.new_length - self.old_length

    @property
    def reused_tail(self) -> int:
        """Tail tokens whose cache entries are reused (the last prompt token is evaluated)."""
        return self.tail - 1 - self.refresh

    @property
    def evaluated(self) -> int:
        """Prompt tokens evaluated under this plan (the inserted ones plus the last one)."""
        return self.new_length - self.keep - self.reused_tail

    @property
    def reused(self) -> int:
        return self.keep + self.reused_tail


def plan_insertion(
    old: Sequence[int], new: Sequence[int], refresh: int = 0
) -> InsertionPlan | None:
    """The reuse plan from prompt ``old`` (cached) to ``new``, or None when plain prefix reuse
    is as good (no common tail of at least :data:`MIN_TAIL_TOKENS` beyond the ``refresh``
    tokens evaluated again, or nothing changed) or the edit is too large to approximate
    (more than :data:`MAX_EDIT_TOKENS` tokens inserted, or removed along with an insertion;
    a removal up to :data:`MAX_REMOVAL_TOKENS` with at most :data:`REMOVAL_RETOKENIZED`
    tokens inserted)."""
    limit = min(len(old), len(new))
    keep = common_prefix(old, new)
    if keep == len(old) or keep == len(new):
        return None  # one prompt extends the other: the prefix cache already covers it
    tail = 0
    room = limit - keep
    while tail < room and old[-1 - tail] == new[-1 - tail]:
        tail += 1
    if tail - refresh < MIN_TAIL_TOKENS:
        return None
    removed, inserted = len(old) - keep - tail, len(new) - keep - tail
    if max(removed, inserted) > MAX_EDIT_TOKENS and (
        inserted > REMOVAL_RETOKENIZED or removed > MAX_REMOVAL_TOKENS
    ):
        return None
    return InsertionPlan(
        keep=keep, tail=tail, old_length=len(old), new_length=len(new), refresh=max(0, refresh)
    )


# A prompt may change in a few places at once: a context block that appears near the start
# while the user types at the cursor, or the window's start moving on with the keystroke. Each
# edit becomes one step; more than this many edits is evaluated in full instead.
MAX_STEPS = 3
# Edits closer together than this (a retokenized word around the typed character) are one.
_MERGE_GAP_TOKENS = 8

Step = tuple[InsertionPlan, list[int]]  # a plan and the prompt the cache holds after it


def plan_steps(
    old: Sequence[int],
    new: Sequence[int],
    refresh: int = 0,
    held: int | None = None,
    fixed: Callable[[int], bool] | None = None,
) -> list[Step]:
    """How to turn the cached prompt ``old`` into ``new``: one plan (:func:`plan_insertion`),
    or one step per edit when the prompts differ in a few separate places (at most
    :data:`MAX_STEPS`), each step acceptable to :func:`plan_insertion` on its own; ``[]`` when
    prefix reuse is as good or the first edit is too large to approximate. Each step's prompt
    is the new text up to the end of its edit followed by the old text after it; they are
    applied in turn with :func:`apply`. The steps stop at an edit no plan fits (typically
    the keystroke itself when little text follows the cursor): prefix reuse then evaluates
    ``new`` from there, as :func:`evaluated_by` counts.

    ``held``: the cache holds only the first ``held`` tokens of ``old`` (its request was
    cancelled while the prompt was evaluated). Then only a single plan whose kept prefix is
    cached applies; it reuses the part of the tail that was evaluated, and the rest is
    evaluated after it, so typing faster than a suffix evaluates still makes progress.

    ``fixed``: tokens (the FIM sentinels) whose place decides the role of the text around
    them. Several edits that remove or insert one (the cursor moved elsewhere while the
    prompt changed elsewhere too) are not planned: the reused entries would have been
    computed as the wrong part of the prompt, and on HumanEval such plans cost 3 of 200
    tasks (benchmarks/RESULTS.md, stop 18)."""
    single = plan_insertion(old, new, refresh)
    if held is not None:
        fits = single is not None and single.keep <= held and _tail_start(single) < held
        return [(single, list(new))] if fits and single is not None else []
    if single is not None:
        return [(single, list(new))]
    keep = common_prefix(old, new)
    if keep in (len(old), len(new)):
        return []
    edits = _edits(old, new, fixed)
    if not 1 < len(edits) <= MAX_STEPS:
        return []
    steps: list[Step] = []
    current = list(old)
    for old_end, new_end in edits:
        target = [*new[:new_end], *old[old_end:]]
        plan = plan_insertion(current, target, refresh)
        if plan is None:
            break
        steps.append((plan, target))
        current = target
    return steps if steps and evaluated_by(steps, new) < len(new) - keep else []


def plan_for(
    llm: Any, old: Sequence[int], new: Sequence[int], refresh: int = 0, held: int | None = None
) -> list[Step]:
    """:func:`plan_steps` with ``llm``'s FIM sentinels (:func:`sentinels`) as the ``fixed``
    tokens."""
    return plan_steps(old, new, refresh, held, sentinels(llm).__contains__)


# Per loaded model, found once: tokenizing them for every keystroke cost ~0.2 ms of the
# typing path (benchmarks/RESULTS.md, stop 18).
_SENTINELS: weakref.WeakKeyDictionary[Any, frozenset[int]] = weakref.WeakKeyDictionary()


def sentinels(llm: Any) -> frozenset[int]:
    """The tokens of a known FIM format's template that are one token in ``llm``'s vocabulary
    (``<|fim_prefix|>``, ``<|fim_suffix|>``, ``<|fim_middle|>`` for Qwen2.5-Coder). A context
    block's file separators are not among them: moving one does not change which part of the
    prompt the text after it is."""
    found = _SENTINELS.get(llm)
    if found is None:
        from .. import fim

        ids: set[int] = set()
        for fmt in fim.load_formats().values():
            for text in (t for t in fmt.detect if t in fmt.template):
                one = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
                if len(one) == 1:
                    ids.add(one[0])
        found = _SENTINELS[llm] = frozenset(ids)
    return found


def _edits(
    old: Sequence[int], new: Sequence[int], fixed: Callable[[int], bool] | None = None
) -> list[tuple[int, int]]:
    """Where each edit from ``old`` to ``new`` ends, as ``(end in old, end in new)`` pairs in
    order; edits less than :data:`_MERGE_GAP_TOKENS` apart are merged; ``[]`` when an edit
    removes or inserts a ``fixed`` token. (difflib's matcher: about 2 ms for two 1,000-token
    prompts, and only tried when a single plan does not fit.)"""
    import difflib

    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    ends: list[tuple[int, int]] = []
    last_end = -_MERGE_GAP_TOKENS
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if fixed is not None and any(map(fixed, [*old[i1:i2], *new[j1:j2]])):
            return []
        if ends and j1 - last_end < _MERGE_GAP_TOKENS:
            ends[-1] = (i2, j2)
        else:
            ends.append((i2, j2))
        last_end = j2
    return ends


def evaluated_by(steps: Sequence[Step], new: Sequence[int], held: int | None = None) -> int:
    """Prompt tokens evaluated to reach ``new`` through ``steps``: each step's edit and
    refreshed tokens, then whatever of ``new`` the last step's cache (its prompt but the last
    token, or only its first ``held`` tokens shifted: see :func:`plan_steps`) does not
    start with."""
    if not steps:
        return len(new)
    edits = sum(plan.evaluated - 1 for plan, _ in steps)
    if held is not None:
        plan = steps[-1][0]
        return edits + len(new) - (_tail_end(plan, held) + plan.shift)
    return edits + len(new) - common_prefix(steps[-1][1][:-1], new)


def _tail_start(plan: InsertionPlan) -> int:
    return plan.old_length - plan.tail + plan.refresh


def _tail_end(plan: InsertionPlan, held: int | None) -> int:
    """Where the reused tail ends in the old prompt: before its last token (evaluated again
    to start generating), or where a cancelled evaluation stopped."""
    end = plan.old_length - 1
    return end if held is None else min(end, held)


def holds(llm: Any, prompt: Sequence[int]) -> bool:
    """Whether ``llm``'s cache holds ``prompt`` but its last token, as a finished request's
    prompt leaves it (not when the request was cancelled while the prompt was evaluated)."""
    head = len(prompt) - 1
    return int(llm.n_tokens) >= head and llm.input_ids[:head].tolist() == list(prompt[:-1])


def context_params(params: Any) -> None:
    """Adjust llama.cpp context parameters in place so :func:`apply` can park the tail."""
    params.n_seq_max = max(2, int(params.n_seq_max))
    params.kv_unified = True


def apply(
    llm: Any,
    plan: InsertionPlan,
    new: Sequence[int],
    cancel: threading.Event | None,
    chunk: int,
    held: int | None = None,
) -> None:
    """Rearrange ``llm``'s KV cache by ``plan`` and evaluate the inserted tokens.

    ``llm`` is a llama-cpp-python ``Llama`` whose cache holds the previous prompt (and possibly
    its generation) in sequence 0. Afterwards the cache and ``llm.input_ids`` hold
    ``new[:-1]``, so ``llm.generate(new)`` evaluates only the last token (with ``held``, the
    old prompt's cached length, they hold less and ``generate`` evaluates the rest).
    Evaluation runs in batches of ``chunk`` tokens and raises :class:`Cancelled` between them
    when ``cancel`` is set; the cache is then left holding only the kept prefix, which is
    always consistent.
    """
    import llama_cpp

    mem = llama_cpp.llama_get_memory(llm._ctx.ctx)
    tail_start = _tail_start(plan)
    tail_end = _tail_end(plan, held)  # exclusive
    # Drop the last prompt token and whatever was generated after it.
    llama_cpp.llama_memory_seq_rm(mem, _MAIN_SEQ, tail_end, -1)
    llama_cpp.llama_memory_seq_rm(mem, _PARK_SEQ, -1, -1)
    # Park the tail, forget everything after the kept prefix in the main sequence, shift.
    llama_cpp.llama_memory_seq_cp(mem, _MAIN_SEQ, _PARK_SEQ, tail_start, tail_end)
    llama_cpp.llama_memory_seq_rm(mem, _MAIN_SEQ, plan.keep, -1)
    llm.n_tokens = plan.keep
    if plan.shift:
        llama_cpp.llama_memory_seq_add(mem, _PARK_SEQ, tail_start, tail_end, plan.shift)
    inserted_end = plan.new_length - plan.tail + plan.refresh
    try:
        _evaluate(llm, new[plan.keep : inserted_end], plan.keep, cancel, chunk)
    except BaseException:
        llama_cpp.llama_memory_seq_rm(mem, _PARK_SEQ, -1, -1)
        raise
    # Join the parked tail back: the main sequence is now consecutive up to new[:-1].
    llama_cpp.llama_memory_seq_cp(mem, _PARK_SEQ, _MAIN_SEQ, -1, -1)
    llama_cpp.llama_memory_seq_rm(mem, _PARK_SEQ, -1, -1)
    cached = tail_end + plan.shift
    llm.input_ids[:cached] = new[:cached]
    llm.n_tokens = cached


class Cancelled(Exception):
    """The evaluation was cancelled between two batches."""


def _evaluate(
    llm: Any, tokens: Sequence[int], start: int, cancel: threading.Event | None, chunk: int
) -> None:
    """Decode ``tokens`` into sequence 0 from position ``start`` without touching the cache
    beyond it (``Llama.eval`` would drop the parked tail's positions first)."""
    for offset in range(0, len(tokens), chunk):
        if cancel is not None and cancel.is_set():
            raise Cancelled
        part = list(tokens[offset : offset + chunk])
        llm._batch.set_batch(batch=part, n_past=start + offset, logits_all=False)
        llm._ctx.decode(llm._batch)
        llm.input_ids[start + offset : start + offset + len(part)] = part
        llm.n_tokens = start + offset + len(part)
