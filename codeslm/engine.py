"""The completion engine: (document, cursor, config, backend) -> :class:`Completion`.

Orchestration only: it cuts the prompt window, asks an optional context provider for
cross-file blocks, renders the model family's FIM format, streams from the backend and hands
the raw text to :mod:`codeslm.postprocess`. Every surface (CLI, language server, evaluation)
goes through :meth:`CompletionEngine.complete`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from . import fim, postprocess
from .backends.base import Backend
from .config import Config
from .documents import line_comment, offset_of
from .errors import BackendRejected
from .fim import ContextFile, FimFormat
from .types import Completion, CompletionMode, Document, GenerationRequest, Position, Range

TokenCounter = Callable[[str], int]


@dataclass(frozen=True, slots=True)
class CrossFileContext:
    """Cross-file blocks for one prompt, in the order they should appear (stable first)."""

    files: tuple[ContextFile, ...] = ()
    repo_name: str = ""


class ContextProvider(Protocol):
    """What the engine needs from a context builder."""

    def context_for(
        self, document: Document, offset: int, *, budget_tokens: int, count_tokens: TokenCounter
    ) -> CrossFileContext:
        """Cross-file context for a cursor at ``offset`` of ``document`` within the budget."""
        ...


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """Everything decided before calling the model."""

    prompt: str
    prefix: str
    suffix: str
    mode: CompletionMode
    request: GenerationRequest
    context_files: int


def estimate_tokens(text: str) -> int:
    """A cheap token estimate for code (about 3.5 characters per token)."""
    return max(1, int(len(text) / 3.5)) if text else 0


def window(text: str, offset: int, prefix_chars: int, suffix_chars: int) -> tuple[str, str]:
    """The prefix and suffix around ``offset``, cut to whole lines within the character limits.

    The cursor's own line is always kept whole on both sides.
    """
    prefix, suffix = text[:offset], text[offset:]
    if len(prefix) > prefix_chars:
        cut = len(prefix) - prefix_chars
        line_start = prefix.rfind("\n", 0, len(prefix)) + 1
        newline = prefix.find("\n", cut)
        start = newline + 1 if 0 <= newline < line_start else min(cut, line_start)
        prefix = prefix[start:]
    if len(suffix) > suffix_chars:
        first_newline = suffix.find("\n")
        end = suffix.rfind("\n", 0, suffix_chars)
        if end <= first_newline:
            end = first_newline if first_newline >= 0 else suffix_chars
        suffix = suffix[: end + 1]
    return prefix, suffix


class CompletionEngine:
    """Completions at a cursor for any backend; see the module docstring."""

    def __init__(
        self,
        backend: Backend,
        config: Config,
        *,
        context_provider: ContextProvider | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.context_provider = context_provider
        self._format: FimFormat | None = None
        self._stop_ids: tuple[int, ...] = ()
        self._format_lock = asyncio.Lock()

    async def fim_format(self) -> FimFormat:
        """The model's FIM format: from the config, else detected from its vocabulary once."""
        if self._format is not None:
            return self._format
        async with self._format_lock:
            if self._format is None:
                name = self.config.completion.fim_format
                hint: str | None = None
                if name and name != "auto":
                    fmt = fim.get_format(name)
                elif (hint := await self.backend.fim_format_hint()) is not None:
                    fmt = fim.get_format(hint)  # a server without a tokenizer (Ollama)
                else:
                    counts = {tok: len(await self.backend.tokenize(tok))
                              for f in fim.load_formats().values() for tok in f.detect}
                    fmt = fim.detect_format(lambda tok: counts[tok])
                ids: list[int] = []
                try:
                    for stop in fmt.stop:
                        toks = await self.backend.tokenize(stop)
                        if len(toks) == 1 and toks[0] not in ids:
                            ids.append(toks[0])
                except BackendRejected:
                    ids = []  # no tokenizer: the stop strings alone end completions
                self._stop_ids = tuple(ids)
                self._format = fmt
        return self._format

    def count_tokens(self, text: str) -> int:
        """Token count with the backend's tokenizer when it has a cheap one, else an estimate."""
        exact = self.backend.count_tokens_sync(text)
        return exact if exact is not None else estimate_tokens(text)

    async def plan(
        self,
        document: Document,
        position: Position,
        *,
        mode: CompletionMode = CompletionMode.AUTO,
        use_context: bool = True,
        max_tokens: int | None = None,
    ) -> PromptPlan:
        """Decide the prompt and request for a completion without calling the model."""
        cfg = self.config.completion
        offset = offset_of(document.text, position)
        prefix, suffix = window(document.text, offset, cfg.prefix_chars, cfg.suffix_chars)
        if mode is CompletionMode.AUTO and cfg.mode != CompletionMode.AUTO.value:
            mode = CompletionMode(cfg.mode)
        if mode is CompletionMode.AUTO:
            mode = postprocess.decide_mode(prefix, suffix)
        fmt = await self.fim_format()
        context = CrossFileContext()
        if use_context and self.config.context.enabled and self.context_provider is not None:
            context = self.context_provider.context_for(
                document, offset, budget_tokens=self.config.context.budget_tokens,
                count_tokens=self.count_tokens,
            )
        prompt = fmt.render(
            prefix,
            suffix,
            path=document.path if context.files else None,
            files=context.files,
            repo_name=context.repo_name,
            comment=line_comment(document.language),
        )
        stops = list(fmt.stop)
        if mode is CompletionMode.SINGLE_LINE:
            stops.append("\n")
        if max_tokens is None:
            max_tokens = (cfg.max_tokens_single_line if mode is CompletionMode.SINGLE_LINE
                          else cfg.max_tokens)
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=cfg.temperature,
            stop=tuple(stops),
            stop_token_ids=self._stop_ids,
            cache_key=document.path,
        )
        return PromptPlan(prompt, prefix, suffix, mode, request, len(context.files))

    async def complete(
        self,
        document: Document,
        position: Position,
        *,
        mode: CompletionMode = CompletionMode.AUTO,
        use_context: bool = True,
        max_tokens: int | None = None,
    ) -> Completion:
        """Complete at ``position`` (0-based line, code point column) of ``document``."""
        started = time.perf_counter()
        plan = await self.plan(
            document, position, mode=mode, use_context=use_context, max_tokens=max_tokens
        )
        result = await self.backend.generate(plan.request)
        text = postprocess.postprocess(
            result.text, prefix=plan.prefix, suffix=plan.suffix, mode=plan.mode
        )
        usage = result.usage
        return Completion(
            text=text,
            range=Range(position, position),
            mode=plan.mode,
            raw=result.text,
            latency_s=time.perf_counter() - started,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            finish_reason=result.finish_reason,
        )
