"""What the in-process llama.cpp's KV cache holds, and how a new prompt reuses it.

llama.cpp holds one prompt's keys and values. :class:`PromptCache` remembers which prompt that
is and, before a request evaluates its own, makes the cache ready for it, in this order:

1. plan KV insertion from the held prompt (:mod:`.kvreuse`: an edit in the middle keeps the
   text after it too), or, for a request cancelled halfway, from the part that was evaluated;
2. let the prompt stash (:mod:`.kvstash`) swap in a kept prompt that fits better, and plan
   from that one instead;
3. apply the plan, or leave llama-cpp-python's own prefix reuse to do the work.

It runs in the backend's worker thread only, like every use of the model.
"""

from __future__ import annotations

import threading
from typing import Any

from ..config import Config
from . import kvreuse, kvstash, llamacpp_model


class PromptCache:
    """The prompt whose KV cache llama.cpp holds, the stash beside it, and the reuse rules."""

    def __init__(self, config: Config, *, cancel_chunk: int) -> None:
        self.insertion = llamacpp_model.kv_insertion(config)
        self.refresh = max(0, config.completion.kv_refresh_tokens)
        self.cancel_chunk = cancel_chunk  # prompt tokens between cancellation checks
        self.stash = kvstash.PromptStash(config.completion.kv_stash_slots)
        self.insertions = 0  # requests served by KV insertion (doctor, benchmarks)
        self._held: list[int] | None = None  # the prompt whose KV cache llama.cpp holds

    def holding(self, tokens: list[int]) -> None:
        """Record that ``tokens`` are now in the cache (generation is about to start)."""
        self._held = tokens

    def prepare(self, llm: Any, tokens: list[int], cancel: threading.Event) -> int:
        """Make the KV cache ready for ``tokens``; return how many prompt tokens it reuses.

        Raises :class:`kvreuse.Cancelled` when ``cancel`` is set while the cache is changed;
        what the cache then holds is a valid prefix, found again by the next request.
        """
        last = self._held
        held = None  # a cancelled request's prompt is cached only in part: this much of it
        if last is not None and not kvreuse.holds(llm, last):
            held = kvreuse.common_prefix(llm.input_ids[: llm.n_tokens].tolist(), last)
        # Planned once: the stash needs to know what survives; applied unless it swaps prompts.
        insert = self.insertion and last is not None and len(last) > 1
        steps = kvreuse.plan_for(llm, last, tokens, self.refresh, held) if insert and last else []
        kept = len(tokens) - kvreuse.evaluated_by(steps, tokens, held) if steps else 0
        previous = self.stash.switch(llm, tokens, last, kept)
        self._held = None  # invalid until this request's prompt is in the cache
        if previous is not last:  # a stashed prompt came back: plan from it, if it is whole
            held = None
            whole = previous is not None and len(previous) > 1 and kvreuse.holds(llm, previous)
            steps = kvreuse.plan_for(llm, previous or [], tokens, self.refresh) if whole else []
        if self.insertion and steps:
            for plan, prompt in steps:
                kvreuse.apply(llm, plan, prompt, cancel, self.cancel_chunk, held)
            self.insertions += 1
            return len(tokens) - kvreuse.evaluated_by(steps, tokens, held)
        return kvreuse.common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens)
