"""A stash of recent prompts' KV caches, so that going back to one costs no prefill.

llama.cpp keeps one prompt in the model's KV cache (sequence 0). A prompt that shares little
with it is evaluated from scratch and overwrites it. That happens whenever two prompts take
turns: the quick first window at a new place and the full one warmed behind it, two editors
typing in different files, or a commit message prepared between two keystrokes. Going back
then costs a full prefill (about 5 s for 1,000 tokens on two cores).

Before sequence 0 moves to a prompt that shares less than half of what it holds, the stash
copies that sequence's cache out (``llama_state_seq_get_data``: about 11 MB and 15 ms for 900
tokens of the 0.5B model). When a later prompt starts with more of a stashed entry than of
what sequence 0 holds, the entry is copied back into sequence 0 (``llama_state_seq_set_data``,
a few ms) and the usual reuse (prefix, or KV insertion) goes on from there.

The stash holds real copies, not extra sequence ids on the same cache cells: llama-cpp-python's
``Llama.eval`` removes cached positions from every sequence, and KV insertion shifts cells in
place, either of which would corrupt cells shared with another sequence.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from .kvreuse import common_prefix

# Prompts shorter than this are cheap to evaluate again: not worth a copy.
MIN_TOKENS = 64
# A stashed entry is restored only when it saves at least this many prompt tokens.
MIN_GAIN_TOKENS = 32
_MAIN_SEQ = 0
log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True)
class Entry:
    """One stashed cache: the tokens sequence 0 held (prompt and generation), the prompt
    they came from (for KV insertion's plan; None if unknown) and the sequence's state."""

    held: list[int]
    prompt: list[int] | None
    state: Any  # a ctypes byte array
    size: int


class PromptStash:
    """Up to ``slots`` stashed caches, most recently used last. Not thread-safe: the backend
    calls it from its one worker thread."""

    def __init__(self, slots: int = 2) -> None:
        self.slots = max(0, slots)
        self.entries: list[Entry] = []
        self.restores = 0  # requests that started from a stashed cache (doctor, benchmarks)

    def switch(
        self,
        llm: Any,
        tokens: Sequence[int],
        prompt: list[int] | None,
        kept: int = 0,
    ) -> list[int] | None:
        """Make sequence 0 of ``llm`` the best starting point for ``tokens``.

        ``prompt`` is the prompt whose cache sequence 0 holds now (None if unknown). When a
        stashed entry shares a longer prefix with ``tokens`` than sequence 0 does (by
        :data:`MIN_GAIN_TOKENS`), the two trade places. Otherwise, when ``tokens`` would
        overwrite most of what sequence 0 holds, that is stashed first; ``kept`` (how many
        of the held tokens KV insertion's plan keeps for ``tokens``) says when more than the
        common prefix survives, so that a cache about to be reused is not copied for nothing.
        Returns the prompt whose cache sequence 0 holds afterwards.
        """
        if not self.slots:
            return prompt
        held = llm.input_ids[: llm.n_tokens].tolist()
        here = max(common_prefix(held, tokens), kept)
        best = max(self.entries, key=lambda e: common_prefix(e.held, tokens), default=None)
        gain = common_prefix(best.held, tokens) - here if best is not None else 0
        if best is not None and gain >= MIN_GAIN_TOKENS:
            # Out of the list before saving: a full stash drops its oldest entry to make room,
            # which may be this one.
            self.entries.remove(best)
            self.keep(llm, held, prompt)
            self._restore(llm, best)
            self.restores += 1
            log.debug("stash: %d held tokens out, %d back in", len(held), len(best.held))
            return best.prompt
        if len(held) >= MIN_TOKENS and here < len(held) // 2:
            self.keep(llm, held, prompt)
            log.debug(
                "stash: %d held tokens saved (%d shared with the next prompt)", len(held), here
            )
        return prompt

    def keep(self, llm: Any, held: list[int], prompt: list[int] | None) -> None:
        """Copy sequence 0's cache into the stash (dropping the oldest entry when full, and
        any entry this one covers)."""
        if len(held) < MIN_TOKENS:
            return
        copied = copy_out(llm)
        if copied is None:
            return
        state, size = copied
        self.entries = [e for e in self.entries if common_prefix(e.held, held) < len(e.held)]
        self.entries.append(Entry(held, list(prompt) if prompt else None, state, size))
        del self.entries[: max(0, len(self.entries) - self.slots)]

    @staticmethod
    def _restore(llm: Any, entry: Entry) -> None:
        copy_in(llm, entry.state, entry.size, entry.held)

    def clear(self) -> None:
        """Forget every entry (the model or its context is gone)."""
        self.entries.clear()


def copy_out(llm: Any) -> tuple[Any, int] | None:
    """Sequence 0's cache as (a ctypes byte array, its size), or None if llama.cpp gave none."""
    import llama_cpp

    ctx = llm._ctx.ctx
    size = int(llama_cpp.llama_state_seq_get_size(ctx, _MAIN_SEQ))
    state = (ctypes.c_uint8 * size)()
    written = int(llama_cpp.llama_state_seq_get_data(ctx, state, size, _MAIN_SEQ))
    return (state, written) if written > 0 else None


def copy_in(llm: Any, state: Any, size: int, held: Sequence[int]) -> bool:
    """Replace sequence 0's cache with ``state`` (``held``: the tokens it holds). If llama.cpp
    refuses it (no room, or data of another model), the sequence is left empty, which is
    always consistent (the prompt is then evaluated), and False is returned."""
    import llama_cpp

    ctx = llm._ctx.ctx
    mem = llama_cpp.llama_get_memory(ctx)
    llama_cpp.llama_memory_seq_rm(mem, _MAIN_SEQ, -1, -1)
    llm.n_tokens = 0
    if llama_cpp.llama_state_seq_set_data(ctx, state, size, _MAIN_SEQ) <= 0:
        llama_cpp.llama_memory_seq_rm(mem, _MAIN_SEQ, -1, -1)
        return False
    llm.input_ids[: len(held)] = held
    llm.n_tokens = len(held)
    return True
