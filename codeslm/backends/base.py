"""The narrow interface every model backend implements (embedded llama.cpp, HTTP servers, fake).

Contract:

- ``stream(request)`` is an async iterator of :class:`~codeslm.types.Chunk`. The last chunk has
  ``finish_reason`` and ``usage``. Stopping iteration early (``aclose()``, task cancellation,
  ``break``) cancels the generation: the backend stops spending compute on it promptly.
- ``health()`` never raises for an unreachable backend; it reports ``DOWN`` or ``ERROR``.
- ``tokenize(text)`` returns the model's token ids for ``text``, parsing special tokens (so a
  FIM sentinel is one id when the vocabulary has it).
- Every failure is raised as a :class:`~codeslm.errors.BackendError` (or ``ModelError`` while
  loading a local model), never as a library exception.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator

from ..types import BackendHealth, Chunk, GenerationRequest, ModelInfo, Usage


class Backend(abc.ABC):
    """Base class of model backends. Subclasses set ``name`` and implement the abstract methods."""

    name: str = "backend"
    # Whether the backend keeps the caches of several recent prompts (llama.cpp's prompt
    # stash), so that two prompts taking turns do not evaluate each other away.
    keeps_prompts: bool = False
    # Whether a generation's usage timings measure this machine's model speed alone: a local
    # model that was loaded before the request was timed (the shared daemon), not a remote
    # server, nor llama.cpp in this process, whose first request also pays for loading it.
    # What the commit hook may record as the model's speed (config.measured_speed.learn).
    times_loaded_local_model: bool = False

    @abc.abstractmethod
    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Stream the generation for ``request``; see the module contract."""

    @abc.abstractmethod
    async def health(self) -> BackendHealth:
        """Report whether the backend can serve requests now."""

    @abc.abstractmethod
    async def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` in the served model's vocabulary, special tokens parsed."""

    @abc.abstractmethod
    async def model_info(self) -> ModelInfo:
        """Name and context length of the served model (loads or contacts it if needed)."""

    async def count_tokens(self, text: str) -> int:
        """Number of tokens of ``text``."""
        return len(await self.tokenize(text))

    def count_tokens_sync(self, text: str) -> int | None:
        """A cheap synchronous token count, or ``None`` when only the async path is exact.

        The context builder calls this on its hot path; backends with a local tokenizer
        override it.
        """
        return None

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Collect a whole stream into text plus the final chunk's accounting."""
        parts: list[str] = []
        finish: str | None = None
        usage: Usage | None = None
        async for chunk in self.stream(request):
            parts.append(chunk.text)
            if chunk.finish_reason is not None:
                finish = chunk.finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
        return GenerationResult("".join(parts), finish, usage or Usage())

    async def diagnostics(self) -> dict[str, str]:
        """Extra backend-specific lines for ``codeslm doctor`` (name -> one-line detail)."""
        return {}

    async def fim_format_hint(self) -> str | None:
        """A FIM format name for backends that cannot detect it with ``tokenize()``, else None.

        A server without a tokenizer endpoint (Ollama) answers from the served model's name;
        the engine then uses that instead of vocabulary detection. None (the default) means:
        detect from the vocabulary through ``tokenize()``.
        """
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release connections, threads and model memory. Safe to call twice."""


class GenerationResult:
    """Text of a finished generation with its finish reason and usage."""

    __slots__ = ("finish_reason", "text", "usage")

    def __init__(self, text: str, finish_reason: str | None, usage: Usage) -> None:
        self.text = text
        self.finish_reason = finish_reason
        self.usage = usage

    def __repr__(self) -> str:
        return f"GenerationResult({self.text!r}, {self.finish_reason!r}, {self.usage!r})"
