"""Fill-in-the-middle training examples in exactly the prompt the engine sends.

A *hole* hides the rest of one line from a cursor: the cursor is placed before a cross-file
name (the ``api`` holes of ``codeslm eval repo``, where repository knowledge matters most) or
at a random identifier of the line. For each hole the prompt is made by the completion
engine's own planner (:meth:`codeslm.engine.CompletionEngine.plan`, single-line mode, with the
workspace provider's cross-file context) over :class:`TokenizerBackend`, a backend that only
tokenizes, so the model trains on the same text it will be asked to complete: same window,
same FIM format, same context blocks, same redaction. The target is the hidden text followed
by the end-of-text token (where a FIM model stops).

No leakage into the context: while a hole's prompt is made, the index sees its file only up
to the line before the hole (as the evaluation does), and the held-out files (``hidden``) are
empty for the whole build, so no training prompt carries their code as cross-file context.
Holes whose hidden text looks like a secret are dropped.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..backends.base import Backend
from ..completion.request import CompletionOptions
from ..config import Config
from ..context.index import WorkspaceIndex
from ..context.provider import WorkspaceProvider
from ..engine import CompletionEngine
from ..errors import BackendRejected
from ..evaluation import repo as repo_eval
from ..redaction import redact_if_needed
from ..types import (
    BackendHealth,
    Chunk,
    CompletionMode,
    Document,
    GenerationRequest,
    HealthStatus,
    ModelInfo,
    Position,
)

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LINES_PER_HOLE = 4  # about one random hole per this many non-blank lines


@dataclass(slots=True)
class Example:
    """One training example: the engine's ``prompt`` and the ``target`` the model should
    write (the hidden text; the end-of-text token is added at tokenization). ``source`` is
    ``code`` (the repository's own text) or ``teacher`` (a teacher model's completion)."""

    path: str
    line: int
    column: int
    prompt: str
    target: str
    kind: str  # api | random
    source: str = "code"


@dataclass(frozen=True, slots=True)
class HoleSpec:
    """Where a hole is: ``path`` relative to the root, 0-based ``line`` and ``column``."""

    path: str
    line: int
    column: int
    kind: str


class TokenizerBackend(Backend):
    """A backend that tokenizes with a Hugging Face tokenizer and generates nothing: what the
    planner needs to render prompts and budget context tokens exactly."""

    name = "tokenizer"

    def __init__(self, tokenizer: Any, model_name: str = "base") -> None:
        self.tokenizer = tokenizer
        self.model_name = model_name

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False)) if text else []

    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        raise BackendRejected("the tokenizer backend does not generate")

    async def health(self) -> BackendHealth:
        return BackendHealth(HealthStatus.READY, "tokenizer only", self.model_name)

    async def tokenize(self, text: str) -> list[int]:
        return self.encode(text)

    def count_tokens_sync(self, text: str) -> int | None:
        return len(self.encode(text))

    async def model_info(self) -> ModelInfo:
        return ModelInfo(self.model_name, int(getattr(self.tokenizer, "model_max_length", 0)))


def pick_holes(
    index: WorkspaceIndex, files: Sequence[str], *, seed: int, lines_per_hole: int = LINES_PER_HOLE
) -> list[HoleSpec]:
    """The holes of ``files`` (deterministic for a seed): every cross-file API hole, plus one
    random-identifier hole per ``lines_per_hole`` non-blank lines; shuffled."""
    wanted = set(files)
    out: list[HoleSpec] = []
    api = repo_eval.pick_holes(index, count=10**9, seed=seed, per_file=10**9, cut="api")
    taken = set()
    for h in api:
        if h.path in wanted:
            out.append(HoleSpec(h.path, h.line, h.column, "api"))
            taken.add((h.path, h.line))
    rng = random.Random(seed)
    for path in sorted(wanted):
        text = _read(index.root / path)
        if text is None:
            continue
        lines = text.split("\n")
        candidates = []
        for i, line in enumerate(lines):
            stripped = line.strip()
            if (path, i) in taken or not 4 <= len(stripped) <= 200:
                continue
            indent = len(line) - len(line.lstrip())
            columns = [indent] + [m.start() for m in _WORD.finditer(line) if m.start() > indent]
            candidates.append((i, columns))
        rng.shuffle(candidates)
        for i, columns in candidates[: max(1, len(candidates) // lines_per_hole)]:
            out.append(HoleSpec(path, i, rng.choice(columns), "random"))
    rng.shuffle(out)
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


class ExampleBuilder:
    """Renders holes into examples through the engine's planner (see the module docstring).

    ``quick`` uses the engine's quick first window (shorter prompts: cheaper training on a
    CPU, still a prompt the engine sends); otherwise the full configured window.

    ``hidden`` files (the held-out ones) are replaced by empty in-memory buffers in ``index``
    from here on: no context block can quote them. Held-out files held there as context in
    14% of the prompts of a 2,000-example tune of mcp 1.3.0, so the evaluation's files were
    partly seen in training. The caller's index keeps the empty buffers until it is closed.
    """

    def __init__(
        self,
        index: WorkspaceIndex,
        config: Config,
        backend: Backend,
        *,
        quick: bool = False,
        max_tokens: int = 48,
        hidden: Sequence[str] = (),
    ) -> None:
        self.index = index
        with index.lock:
            for path in hidden:
                index.set_text(path, "", overlay=True)
        self.provider = WorkspaceProvider(index, config, scope="repo", auto_sync=False)
        self.engine = CompletionEngine(backend, config, context_provider=self.provider)
        self.quick = quick
        self.options = CompletionOptions(
            mode=CompletionMode.SINGLE_LINE, use_context=True, max_tokens=max_tokens
        )
        self._texts: dict[str, str | None] = {}

    def document_at(self, hole: HoleSpec) -> tuple[Document, str, str] | None:
        """The document with the hole's text hidden, the hidden text and the file's text."""
        if hole.path not in self._texts:
            self._texts[hole.path] = _read(self.index.root / hole.path)
        text = self._texts[hole.path]
        if text is None:
            return None
        lines = text.split("\n")
        if hole.line >= len(lines):
            return None
        line = lines[hole.line]
        target = line[hole.column :].rstrip()
        if not target.strip() or redact_if_needed(target) != target:
            return None  # nothing to learn, or a secret the model must never learn
        start = sum(len(x) + 1 for x in lines[: hole.line])
        cursor = start + hole.column
        doc_text = text[:cursor] + text[start + len(line) :]
        language = self.index.entries[hole.path].language
        return Document(doc_text, str(self.index.root / hole.path), language), target, text

    async def build(self, hole: HoleSpec) -> Example | None:
        """The example of ``hole`` (None when the line has nothing to learn)."""
        found = self.document_at(hole)
        if found is None:
            return None
        document, target, text = found
        lines = text.split("\n")
        line_start = sum(len(x) + 1 for x in lines[: hole.line])
        with self.index.lock:
            self.index.set_text(hole.path, text[:line_start], overlay=True)
        try:
            self.provider.forget_region()
            plan = await self.engine.plan(
                document, Position(hole.line, hole.column), self.options, quick=self.quick
            )
        finally:
            with self.index.lock:
                self.index.revert_overlay(hole.path)
        return Example(hole.path, hole.line, hole.column, plan.prompt, target, hole.kind)

    async def build_all(
        self,
        holes: Sequence[HoleSpec],
        *,
        limit: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[Example]:
        """Examples of ``holes`` in order, at most ``limit``."""
        out: list[Example] = []
        for number, hole in enumerate(holes, 1):
            if len(out) >= limit:
                break
            example = await self.build(hole)
            if example is not None:
                out.append(example)
            if progress is not None:
                progress(min(number, limit), min(len(holes), limit))
            if number % 16 == 0:
                await asyncio.sleep(0)
        return out


def save(examples: Sequence[Example], path: Path) -> None:
    """Write examples as JSON lines (atomically: a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for e in examples:
            fh.write(json.dumps(asdict(e)) + "\n")
    tmp.replace(path)


def load(path: Path) -> list[Example]:
    """Examples written by :func:`save` (empty when the file is missing)."""
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as fh:
        return [Example(**json.loads(line)) for line in fh if line.strip()]


def end_token_id(tokenizer: Any, stops: Sequence[str]) -> int:
    """The token a FIM target ends with: the format's first stop string that is one token of
    the vocabulary (``<|endoftext|>`` for Qwen), else the tokenizer's end-of-sequence."""
    for stop in stops:
        ids = tokenizer.encode(stop, add_special_tokens=False)
        if len(ids) == 1:
            return int(ids[0])
    if tokenizer.eos_token_id is None:
        raise BackendRejected("the base model's tokenizer has no end-of-text token")
    return int(tokenizer.eos_token_id)
