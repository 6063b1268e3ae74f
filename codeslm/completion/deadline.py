"""A latency deadline turned into a token budget, from speeds measured on this backend.

The tracker keeps moving averages of the time to the first token per *new* prompt character
(text not shared with the previous prompt, which backends with a prompt cache do not
recompute) and of the decode rate. ``max_tokens_for`` answers how many tokens fit in the
budget after the predicted prompt time. Until a few requests have been measured it answers
the configured maximum. Where the backend reports which prompt tokens it evaluated (llama.cpp,
the daemon), it also keeps the time per evaluated prompt token, which sizes the quick first
window (:mod:`codeslm.completion.plan`).
"""

from __future__ import annotations

from dataclasses import dataclass

ALPHA = 0.3  # weight of the newest measurement in the moving averages
MIN_PROMPT_TOKENS = 64  # a prompt evaluation shorter than this is mostly fixed overhead


def shared_prefix(a: str, b: str) -> int:
    """Length of the common beginning of ``a`` and ``b`` (a binary search on slices)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class ThroughputTracker:
    """Moving averages of prompt and decode speed; see the module docstring."""

    seconds_per_new_char: float | None = None
    base_latency_s: float = 0.0
    decode_tokens_per_s: float | None = None
    seconds_per_prompt_token: float | None = None
    samples: int = 0
    last_prompt: str = ""

    def new_chars(self, prompt: str) -> int:
        """Characters of ``prompt`` after its common beginning with the previous prompt."""
        return len(prompt) - shared_prefix(prompt, self.last_prompt)

    def record(self, prompt: str, ttft_s: float | None, tokens: int,
               decode_s: float | None) -> None:
        """Measure one generation: time to first token, and ``tokens`` decoded in
        ``decode_s`` seconds after it."""
        fresh = self.new_chars(prompt)
        self.last_prompt = prompt
        if ttft_s is not None and fresh > 200:
            rate = ttft_s / fresh
            self.seconds_per_new_char = rate if self.seconds_per_new_char is None else (
                (1 - ALPHA) * self.seconds_per_new_char + ALPHA * rate)
        elif ttft_s is not None:
            self.base_latency_s = (1 - ALPHA) * self.base_latency_s + ALPHA * ttft_s
        if tokens >= 4 and decode_s and decode_s > 0:
            rate = tokens / decode_s
            self.decode_tokens_per_s = rate if self.decode_tokens_per_s is None else (
                (1 - ALPHA) * self.decode_tokens_per_s + ALPHA * rate)
        self.samples += 1

    def record_prompt(self, evaluated_tokens: int, ttft_s: float) -> None:
        """Measure prompt evaluation: ``evaluated_tokens`` (not taken from a cache) took
        ``ttft_s`` to the first token. Fewer than :data:`MIN_PROMPT_TOKENS` say little."""
        if evaluated_tokens < MIN_PROMPT_TOKENS or ttft_s <= 0:
            return
        rate = ttft_s / evaluated_tokens
        old = self.seconds_per_prompt_token
        self.seconds_per_prompt_token = rate if old is None else (1 - ALPHA) * old + ALPHA * rate

    def predicted_ttft(self, prompt: str) -> float | None:
        """Seconds to the first token for ``prompt``, or None before any measurement."""
        if self.seconds_per_new_char is None:
            return None
        return self.base_latency_s + self.new_chars(prompt) * self.seconds_per_new_char

    def max_tokens_for(self, prompt: str, budget_s: float, *, floor: int, ceiling: int) -> int:
        """Tokens to ask for so the request likely ends within ``budget_s``, within
        ``[floor, ceiling]``; ``ceiling`` when the speeds are not known yet."""
        if budget_s <= 0 or self.decode_tokens_per_s is None:
            return ceiling
        ttft = self.predicted_ttft(prompt) or self.base_latency_s
        tokens = int((budget_s - ttft) * self.decode_tokens_per_s)
        return max(floor, min(ceiling, tokens))
