"""Planning a completion: everything decided before the model is called.

:class:`Planner` cuts the prompt window around the cursor, decides the mode, asks the context
provider for cross-file blocks, renders the model family's FIM format (detected once from the
backend's vocabulary unless configured) and derives the generation request, whose
``max_tokens`` the deadline lowers once the backend's speed is measured.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from .. import fim
from ..backends.base import Backend
from ..config import Config
from ..context.port import ContextProvider, CrossFileContext, estimate_tokens, window
from ..documents import line_comment
from ..errors import BackendRejected
from ..fim import FimFormat
from ..types import CompletionMode, Document, GenerationRequest, Position
from .blockindent import missing_indentation
from .deadline import ThroughputTracker
from .hole import Hole
from .mode import decide_mode
from .request import CompletionOptions, Cursor
from .warmup import Place, near

UNTITLED = "<untitled>"
MIN_TOKENS_SINGLE_LINE = 8  # the deadline never asks for fewer tokens than these
MIN_TOKENS_MULTI_LINE = 16
# The quick first window at a new place (the engine's ``quick_first``): about 450 prompt
# tokens, which a 2-core CPU evaluates in ~2.5 s with the 0.5B model, against ~1,000 tokens
# (~5.5 s) for the full window.
QUICK_PREFIX_CHARS = 1200
QUICK_SUFFIX_CHARS = 300
QUICK_CONTEXT_TOKENS = 128
QUICK_PROMPT_TOKENS = 450  # about what the quick window's prompt holds
# A slower model or machine (the 1.5B model evaluates ~3x slower) gets a smaller quick window,
# the largest of these shares whose prompt is predicted to take at most QUICK_TARGET_S (from
# the measured time per evaluated prompt token). Discrete, and chosen once per place, so that
# the quick prompts at one place share their beginning (and their KV cache).
QUICK_SCALES = (1.0, 0.5, 1 / 3, 0.25)
QUICK_TARGET_S = 3.0


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """Everything decided before calling the model.

    ``prefix``/``suffix`` are the windows of the document the model sees; ``offset`` is the
    cursor's offset in the whole document; ``language`` its tree-sitter name (or None).
    ``at_block`` is the same request with the cursor moved to its block's indentation (a
    cursor at column 0 inside a body), asked only when the completion at the real cursor starts
    shallower than that (top-level code such as ``def main():``); its ``prefix`` ends with its
    ``lead``, the whitespace added, and its completion starts with it.
    """

    prompt: str
    prefix: str
    suffix: str
    mode: CompletionMode
    request: GenerationRequest
    context_files: int
    offset: int = 0
    language: str | None = None
    lead: str = ""
    at_block: PromptPlan | None = None

    @property
    def hole(self) -> Hole:
        """The hole the post-processing rules see."""
        return Hole(self.prefix, self.suffix, self.language, self.mode)


class Planner:
    """Prompts and requests for one backend and config; see the module docstring."""

    def __init__(
        self,
        backend: Backend,
        config: Config,
        speed: ThroughputTracker,
        context_provider: ContextProvider | None = None,
    ) -> None:
        self.backend = backend
        self.config = config
        self.speed = speed
        self.context_provider = context_provider
        self._format: FimFormat | None = None
        self._stop_ids: tuple[int, ...] = ()
        self._format_lock = asyncio.Lock()
        self.quick_scale = 1.0  # share of the quick window in use (see QUICK_SCALES)
        self._quick_place: Place | None = None  # where quick_scale was last used

    async def fim_format(self) -> FimFormat:
        """The model's FIM format: from the config, else detected from its vocabulary once."""
        if self._format is not None:
            return self._format
        async with self._format_lock:
            if self._format is None:
                fmt = await self._detect_format()
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

    @property
    def stop_ids(self) -> tuple[int, ...]:
        """The format's stop strings that are single tokens, as token ids (after
        :meth:`fim_format`)."""
        return self._stop_ids

    async def _detect_format(self) -> FimFormat:
        name = self.config.completion.fim_format
        if name and name != "auto":
            return fim.get_format(name)
        if (hint := await self.backend.fim_format_hint()) is not None:
            return fim.get_format(hint)  # a server without a tokenizer (Ollama)
        counts = {
            tok: len(await self.backend.tokenize(tok))
            for f in fim.load_formats().values()
            for tok in f.detect
        }
        return fim.detect_format(lambda tok: counts[tok])

    def count_tokens(self, text: str) -> int:
        """Token count with the backend's tokenizer when it has a cheap one, else an estimate."""
        exact = self.backend.count_tokens_sync(text)
        return exact if exact is not None else estimate_tokens(text)

    def decide_mode(self, document: Document, cursor: Cursor) -> CompletionMode:
        """The mode AUTO resolves to at ``cursor`` (config ``completion.mode`` first)."""
        cfg = self.config.completion
        if cfg.mode != CompletionMode.AUTO.value:
            return CompletionMode(cfg.mode)
        prefix, suffix = window(document.text, cursor.offset, cfg.prefix_chars, cfg.suffix_chars)
        prefix += missing_indentation(Hole(prefix, suffix, document.language))
        return decide_mode(Hole(prefix, suffix, document.language))

    async def plan(
        self, document: Document, cursor: Cursor, options: CompletionOptions, *, quick: bool = False
    ) -> PromptPlan:
        """The prompt and request for ``options`` at ``cursor``; ``quick`` uses the short first
        window (:data:`QUICK_PREFIX_CHARS` and friends)."""
        cfg = self.config.completion
        language = document.language
        if quick:
            self._choose_quick_scale(document.path or UNTITLED, cursor.position)
        prefix, suffix, budget_tokens = self._window(document.text, cursor.offset, quick)
        # A cursor left at column 0 inside a body: the indentation its block has (the engine
        # asks again there when the model writes top-level code).
        lead = missing_indentation(Hole(prefix, suffix, language))
        mode = options.mode
        if mode is CompletionMode.AUTO and cfg.mode != CompletionMode.AUTO.value:
            mode = CompletionMode(cfg.mode)
        if mode is CompletionMode.AUTO:
            mode = decide_mode(Hole(prefix, suffix, language))
        fmt = await self.fim_format()
        context = CrossFileContext()
        provider = self.context_provider
        if options.use_context and self.config.context.enabled and provider is not None:
            context = provider.context_for(
                document, cursor.offset, budget_tokens=budget_tokens, count_tokens=self.count_tokens
            )

        def render(shown: str) -> str:
            return fmt.render(
                shown,
                suffix,
                path=(context.path or document.path) if context.files else None,
                files=context.files,
                repo_name=context.repo_name,
                comment=line_comment(language),
            )

        prompt = render(prefix)
        request = GenerationRequest(
            prompt=prompt,
            max_tokens=self._max_tokens(options.max_tokens, mode, prompt),
            temperature=cfg.temperature if options.temperature is None else options.temperature,
            stop=tuple(fmt.stop),
            stop_token_ids=self._stop_ids,
            cache_key=document.path or UNTITLED,
            first_identifier=context.member_names,
        )
        plan = PromptPlan(
            prompt, prefix, suffix, mode, request, len(context.files), cursor.offset, language
        )
        if not lead:
            return plan
        indented = render(prefix + lead)
        at_block = dataclasses.replace(
            plan,
            prompt=indented,
            prefix=prefix + lead,
            lead=lead,
            request=dataclasses.replace(request, prompt=indented),
        )
        return dataclasses.replace(plan, at_block=at_block)

    def _window(self, text: str, offset: int, quick: bool) -> tuple[str, str, int]:
        """(prefix, suffix, context token budget) at ``offset``: the configured window, or the
        quick one."""
        cfg = self.config.completion
        prefix_chars, suffix_chars = cfg.prefix_chars, cfg.suffix_chars
        budget_tokens = self.config.context.budget_tokens
        if quick:
            scale = self.quick_scale
            prefix_chars = min(prefix_chars, int(QUICK_PREFIX_CHARS * scale))
            suffix_chars = min(suffix_chars, int(QUICK_SUFFIX_CHARS * scale))
            budget_tokens = min(budget_tokens, int(QUICK_CONTEXT_TOKENS * scale))
        prefix, suffix = window(text, offset, prefix_chars, suffix_chars)
        return prefix, suffix, budget_tokens

    def _choose_quick_scale(self, key: str, position: Position) -> None:
        """At a place away from the last quick one, size the quick window from the measured
        prompt speed (kept when nothing is measured yet); near it, keep the size, so that the
        warm-up and the requests there send prompts that share their cache."""
        rate = self.speed.seconds_per_prompt_token
        if not near(self._quick_place, key, position) and rate is not None:
            self.quick_scale = next(
                (s for s in QUICK_SCALES if s * QUICK_PROMPT_TOKENS * rate <= QUICK_TARGET_S),
                QUICK_SCALES[-1],
            )
        self._quick_place = (key, position.line)

    def _max_tokens(self, asked: int | None, mode: CompletionMode, prompt: str) -> int:
        """``asked``, else the configured maximum for ``mode`` lowered by the deadline
        (``completion.latency_budget_ms``) once this backend's speed is measured."""
        if asked is not None:
            return asked
        cfg = self.config.completion
        single = mode is CompletionMode.SINGLE_LINE
        ceiling = cfg.max_tokens_single_line if single else cfg.max_tokens
        floor = min(ceiling, MIN_TOKENS_SINGLE_LINE if single else MIN_TOKENS_MULTI_LINE)
        return self.speed.max_tokens_for(
            prompt, cfg.latency_budget_ms / 1000, floor=floor, ceiling=ceiling
        )
