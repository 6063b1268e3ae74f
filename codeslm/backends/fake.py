"""A scripted backend for fast unit tests and demos (``--backend fake``). Never the only proof.

Replies come from a script: a fixed string, a list cycled per request, or a function of the
request. The tokenizer treats Qwen2.5-Coder's special tokens as single tokens and splits other
text into word and punctuation pieces, so FIM detection and budgeting behave as with a real
Qwen model. With ``CODESLM_FAKE_SCRIPT`` pointing at a JSON file the CLI and the language
server can be driven without a model: ``{"replies": ["..."], "delay_s": 0.0}`` or
``{"rules": [{"contains": "def f", "reply": "..."}], "default": "..."}``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import BackendUnavailable, ConfigError, ContextTooLong
from ..types import BackendHealth, Chunk, GenerationRequest, HealthStatus, ModelInfo, Usage
from .base import Backend

SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
_SPECIAL_RE = "|".join(re.escape(t) for t in SPECIAL_TOKENS)
_PIECE = re.compile(rf"{_SPECIAL_RE}|\w+|\s+|[^\w\s]")

Script = str | list[str] | Callable[[GenerationRequest], str]


class FakeBackend(Backend):
    """Replies from a script; see the module docstring."""

    name = "fake"

    def __init__(
        self,
        script: Script = "",
        *,
        delay_s: float = 0.0,
        context_length: int = 4096,
        down: bool = False,
        fail_after_chunks: int | None = None,
    ) -> None:
        self._script = script
        self._cycle: Iterator[str] | None = (
            itertools.cycle(script) if isinstance(script, list) and script else None
        )
        self.delay_s = delay_s
        self.context_length = context_length
        self.down = down
        self.fail_after_chunks = fail_after_chunks
        self.requests: list[GenerationRequest] = []
        self.cancelled = 0

    @classmethod
    def from_config(cls, config: Config) -> FakeBackend:
        """Build from ``CODESLM_FAKE_SCRIPT`` (a JSON file) or ``CODESLM_FAKE_REPLY``."""
        path = os.environ.get("CODESLM_FAKE_SCRIPT")
        if not path:
            return cls(os.environ.get("CODESLM_FAKE_REPLY", ""))
        try:
            data: dict[str, Any] = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"CODESLM_FAKE_SCRIPT {path}: {exc}") from None
        delay = float(data.get("delay_s", 0.0))
        if "rules" in data:
            rules = [(str(r["contains"]), str(r["reply"])) for r in data["rules"]]
            default = str(data.get("default", ""))

            def reply(request: GenerationRequest) -> str:
                text = request.prompt or "\n".join(m.content for m in request.messages)
                return next((r for c, r in rules if c in text), default)

            return cls(reply, delay_s=delay)
        return cls([str(r) for r in data.get("replies", [""])], delay_s=delay)

    def _reply(self, request: GenerationRequest) -> str:
        if callable(self._script):
            return self._script(request)
        if self._cycle is not None:
            return next(self._cycle)
        return str(self._script)

    @staticmethod
    def pieces(text: str) -> list[str]:
        return _PIECE.findall(text)

    async def health(self) -> BackendHealth:
        if self.down:
            return BackendHealth(HealthStatus.DOWN, "fake backend is down", "fake")
        return BackendHealth(HealthStatus.READY, "scripted", "fake")

    async def tokenize(self, text: str) -> list[int]:
        return [hash(p) & 0x7FFFFFFF for p in self.pieces(text)]

    def count_tokens_sync(self, text: str) -> int | None:
        return len(self.pieces(text))

    async def model_info(self) -> ModelInfo:
        return ModelInfo(name="fake", context_length=self.context_length)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        if self.down:
            raise BackendUnavailable("fake backend is down")
        self.requests.append(request)
        started = time.perf_counter()
        prompt = request.prompt or "".join(m.content for m in request.messages)
        prompt_tokens = len(self.pieces(prompt))
        if prompt_tokens >= self.context_length:
            raise ContextTooLong(f"prompt of {prompt_tokens} tokens exceeds {self.context_length}")
        text = self._reply(request)
        cut = min((i for s in request.stop if (i := text.find(s)) >= 0), default=-1)
        finish = "stop"
        if cut >= 0:
            text = text[:cut]
        pieces = self.pieces(text)
        if len(pieces) > request.max_tokens:
            pieces = pieces[: request.max_tokens]
            finish = "length"
        emitted = 0
        try:
            for piece in pieces:
                if self.fail_after_chunks is not None and emitted >= self.fail_after_chunks:
                    raise BackendUnavailable("fake backend died mid-stream")
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                emitted += 1
                yield Chunk(piece)
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        yield Chunk(
            "",
            finish,
            Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=emitted,
                cached_prompt_tokens=0,
                time_to_first_token_s=self.delay_s,
                total_s=time.perf_counter() - started,
            ),
        )
