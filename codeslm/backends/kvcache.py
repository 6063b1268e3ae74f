"""What the in-process llama.cpp's KV cache holds, and how a new prompt reuses it.

llama.cpp holds one prompt's keys and values. :class:`PromptCache` remembers which prompt that
is and, before a request evaluates its own, makes the cache ready for it, in this order:

1. plan KV insertion from the held prompt (:mod:`.kvreuse`: an edit in the middle keeps the
   text after it too), or, for a request cancelled halfway, from the part that was evaluated;
2. let the prompt stash (:mod:`.kvstash`) swap in a kept prompt that fits better, and plan
   from that one instead;
3. apply the plan, or leave llama-cpp-python's own prefix reuse to do the work.

A chat prompt whose head recurs (``GenerationRequest.keep_head``) also uses the heads kept on
disk (:mod:`.kvheads`): before the steps above, a head that neither sequence 0 nor the stash
holds is loaded from its file; after them, a head that still has to be evaluated is evaluated
alone first and written to a file, so that the next cold process skips it.

It runs in the backend's worker thread only, like every use of the model.
"""

from __future__ import annotations

import threading
from typing import Any

from ..config import Config
from ..config.machine_fit import SMALL_FILE_BYTES
from . import kvheads, kvreuse, kvstash, llamacpp_model
from .kvheads import HeadStore

# completion.kv_refresh_tokens = -1 (auto): tokens after an edit evaluated again, by model size.
# On 200 HumanEval single-line tasks (two samples) the 1.5B lost 3 tasks on each against exact
# evaluation with 8, and none with 16, at no latency visible in typing replays. The 0.5B lost
# 1 and 12 with 8, and 1 and 2 with 16 (benchmarks/RESULTS.md, issue 15 stops 19 and 20).
AUTO_REFRESH_SMALL = 16
AUTO_REFRESH_LARGE = 16


def refresh_tokens(setting: int, model_bytes: int) -> int:
    """The refresh for ``completion.kv_refresh_tokens = setting`` and a model file this size:
    the setting itself when it is 0 or more; for -1 (auto), AUTO_REFRESH_SMALL for a model no
    larger than the 0.5B's file and AUTO_REFRESH_LARGE above it (both 16 since d5c9928)."""
    if setting >= 0:
        return setting
    return AUTO_REFRESH_SMALL if model_bytes <= SMALL_FILE_BYTES else AUTO_REFRESH_LARGE


class PromptCache:
    """The prompt whose KV cache llama.cpp holds, the stash beside it, and the reuse rules."""

    def __init__(self, config: Config, *, cancel_chunk: int) -> None:
        self.insertion = llamacpp_model.kv_insertion(config)
        # auto (-1) until the model is loaded: see refresh_tokens()
        self.refresh = refresh_tokens(config.completion.kv_refresh_tokens, SMALL_FILE_BYTES)
        self.heads: HeadStore | None = None  # set once the model is loaded
        self.cancel_chunk = cancel_chunk  # prompt tokens between cancellation checks
        self.stash = kvstash.PromptStash(config.completion.kv_stash_slots)
        self.insertions = 0  # requests served by KV insertion (doctor, benchmarks)
        self._held: list[int] | None = None  # the prompt whose KV cache llama.cpp holds

    def holding(self, tokens: list[int]) -> None:
        """Record that ``tokens`` are now in the cache (generation is about to start)."""
        self._held = tokens

    def prepare(
        self, llm: Any, tokens: list[int], cancel: threading.Event, *, head: int = 0
    ) -> int:
        """Make the KV cache ready for ``tokens``; return how many prompt tokens it reuses.

        ``head``: how many leading tokens recur across requests and processes (0: none), kept
        on disk when :attr:`heads` is set. Raises :class:`kvreuse.Cancelled` (or
        llamacpp_model.Cancelled while a head is evaluated) when ``cancel`` is set while the
        cache is changed; what the cache then holds is a valid prefix, found again later.
        """
        keep = self.heads is not None and head >= kvheads.MIN_HEAD_TOKENS
        if keep:
            self._head_from_disk(llm, tokens[:head])
        cached = self._reuse(llm, tokens, cancel)
        in_place = keep and cached < head
        if in_place:  # only over a plain prefix (KV insertion's result is not one)
            held = llm.input_ids[: llm.n_tokens].tolist()
            in_place = kvreuse.common_prefix(held, tokens) == cached
        if in_place:
            llm.n_tokens = cached  # what llama-cpp-python's eval continues from
            llm.eval(tokens[cached:head])
            assert self.heads is not None
            self.heads.save(llm, tokens[:head])
            # still reported as evaluated: the head was evaluated now, only in two steps
        return cached

    def _head_from_disk(self, llm: Any, head: list[int]) -> None:
        """Load ``head`` from its file unless sequence 0 or the stash already holds it."""
        held = llm.input_ids[: llm.n_tokens].tolist()
        if kvreuse.common_prefix(held, head) >= len(head):
            return
        if any(kvreuse.common_prefix(e.held, head) >= len(head) for e in self.stash.entries):
            return
        assert self.heads is not None
        if not self.heads.path_for(head).exists():
            return
        self.stash.keep(llm, held, self._held)  # what sequence 0 held may be wanted again
        self._held = None  # sequence 0 is about to hold the head alone (or nothing)
        self.heads.load(llm, head)

    def _reuse(self, llm: Any, tokens: list[int], cancel: threading.Event) -> int:
        """Steps 1-3 of the module docstring; how many prompt tokens the cache reuses."""
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
