"""Shared by the KV reuse and stash tests on the real model: ask and count, cancel a prefill."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeslm.backends import kvcache
from codeslm.backends.llamacpp import LlamaCppBackend
from codeslm.config import Config
from codeslm.types import GenerationRequest


async def evaluated(backend: LlamaCppBackend, prompt: str, max_tokens: int = 4) -> int:
    """Generate for ``prompt``; how many of its tokens llama.cpp evaluated (not reused)."""
    result = await backend.generate(GenerationRequest(prompt=prompt, max_tokens=max_tokens))
    usage = result.usage
    assert usage.prompt_tokens is not None and usage.cached_prompt_tokens is not None
    return usage.prompt_tokens - usage.cached_prompt_tokens


def refresh_of(config: Config, model_path: Path) -> int:
    """The tokens after an edit that KV insertion evaluates again for this model (the
    setting, or its automatic value for the model's size)."""
    return kvcache.refresh_tokens(config.completion.kv_refresh_tokens, model_path.stat().st_size)


@contextlib.contextmanager
def prefill_cancelled_after(llm: Any, count: int) -> Iterator[None]:
    """Within the block, a prompt evaluation stops after ``count`` tokens with llama.cpp's
    cancellation, as when a keystroke supersedes a request while its prompt is evaluated."""
    from codeslm.backends import llamacpp_model

    evaluate = llm.eval

    def cancelled(tokens: list[int]) -> None:
        evaluate(tokens[:count])
        raise llamacpp_model.Cancelled

    llm.eval = cancelled
    try:
        yield
    finally:
        del llm.eval
