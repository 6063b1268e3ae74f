"""``codeslm eval repo``: completion quality on a real repository, with and without context.

Holes (:mod:`.holes`) are lines chosen deterministically (a seed) among lines that use a name
defined in another file of the repository (the CrossCodeEval criterion); import lines,
definition headers, comments and strings are never holes. Where a hole starts (``cut``):

- ``api`` (CrossCodeEval's split): right before the first cross-file name of the line, so the
  text before it on the line stays visible and the hidden text starts where knowledge of
  another file is needed (``limits = httpx.|Limits(max_connections=1)``);
- ``line``: the whole line from its first non-blank character (harder: the model must also
  guess what the statement is for).

The engine completes the hole in single-line mode and the first line of the completion is
scored against the hidden text (:mod:`.scoring`):

- **exact match** (whitespace-trimmed), **edit similarity** (1 - Levenshtein / longer length),
- **syntax validity** (the file with the completion parses without new errors, tree-sitter),
- **latency** (request to final text, context building included) and **prefix-cache reuse**:
  the share of prompt tokens the backend reused, for the hole itself and for a *typing probe*
  (the same hole after the user typed the first characters of the answer, the request a
  language server sends next).

Context modes, all through the same engine and the same token budget: ``none`` (the local
window only), ``infile`` (plus snippets from the rest of the current file) and ``repo`` (plus
the whole repository). No leakage: for each hole, the index holds the current file only up
to the line before the hole (nothing from the hole on), while the local window is what an
editor shows.

Results are appended to a JSONL file (a header line with the settings, then one line per hole
and mode); a run with the same settings resumes where the last one stopped.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..backends.base import Backend
from ..completion.request import CompletionOptions
from ..context.index import WorkspaceIndex
from ..context.provider import WorkspaceProvider
from ..engine import CompletionEngine
from ..errors import InputError
from ..session import Session
from ..types import CompletionMode, Document, GenerationRequest, Position
from .holes import CUTS, MAX_DEFINERS, Hole, pick_holes
from .scoring import (
    ModeSummary,
    api_match,
    edit_similarity,
    levenshtein,
    percentile,
    summarize,
    syntax_ok,
)

MODES = ("none", "infile", "repo")

# The hole choice and the scores are re-exported: callers use ``repo.pick_holes`` and friends.
__all__ = [
    "CUTS",
    "MAX_DEFINERS",
    "MODES",
    "Hole",
    "HoleResult",
    "ModeSummary",
    "RepoEvalSettings",
    "RepoEvaluation",
    "api_match",
    "edit_similarity",
    "levenshtein",
    "load_results",
    "percentile",
    "pick_holes",
    "summarize",
    "syntax_ok",
]


@dataclass(frozen=True, slots=True)
class RepoEvalSettings:
    """What determines the results (a results file resumes only with equal settings)."""

    root: str
    model: str
    holes: int
    seed: int
    modes: tuple[str, ...]
    budget_tokens: int
    max_tokens: int
    prefix_chars: int
    suffix_chars: int
    probe: bool = True
    cut: str = "api"
    member_constraint: bool = True  # context.member_constraint

    def header(self) -> dict[str, Any]:
        data = asdict(self)
        data["modes"] = list(self.modes)
        return {"header": data}


@dataclass(slots=True)
class HoleResult:
    """One hole completed in one context mode."""

    hole: str
    mode: str
    path: str
    line: int
    target: str
    predicted: str
    exact: bool
    edit_similarity: float
    syntax_ok: bool
    latency_s: float
    context_s: float
    prompt_tokens: int
    cached_prompt_tokens: int
    context_files: int
    probe_prompt_tokens: int | None = None
    probe_cached_tokens: int | None = None
    probe_latency_s: float | None = None
    api_match: bool | None = None  # every cross-file name of the hole is in the prediction
    first_use: bool | None = None  # see Hole.first_use
    constrained: bool | None = None  # the first identifier was kept to the receiver's members


# -- running -------------------------------------------------------------------------------


class RepoEvaluation:
    """Runs holes through one engine per context mode over the session's backend and a shared
    index (the session builds the engines)."""

    def __init__(self, index: WorkspaceIndex, session: Session, settings: RepoEvalSettings) -> None:
        for mode in settings.modes:
            if mode not in MODES:
                raise InputError(f"unknown context mode {mode!r}", hint="use none, infile, repo")
        self.index = index
        self.config = config = session.config
        self.backend = session.backend
        self.settings = settings
        self.providers: dict[str, WorkspaceProvider] = {}
        self.engines: dict[str, CompletionEngine] = {}
        for mode in settings.modes:
            provider = None
            if mode != "none":
                provider = WorkspaceProvider(index, config, scope=mode, auto_sync=False)
                self.providers[mode] = provider
            self.engines[mode] = session.engine_with(provider)

    async def run_hole(self, hole: Hole, text: str) -> list[HoleResult]:
        """Complete ``hole`` in every mode (``text`` is the file's full content)."""
        lines = text.split("\n")
        line_start = sum(len(line) + 1 for line in lines[: hole.line])
        line_end = line_start + len(lines[hole.line])
        cursor = line_start + hole.column
        doc_text = text[:cursor] + text[line_end:]
        abs_path = str(self.index.root / hole.path)
        language = self.index.entries[hole.path].language
        document = Document(doc_text, abs_path, language)
        position = Position(hole.line, hole.column)
        results = []
        with self.index.lock:
            # No leakage: the index sees this file only up to the line before the hole.
            self.index.set_text(hole.path, text[:line_start], overlay=True)
        try:
            for mode in self.settings.modes:
                results.append(
                    await self._one(
                        mode, hole, document, position, text, line_start, line_end, language
                    )
                )
        finally:
            with self.index.lock:
                self.index.revert_overlay(hole.path)
        return results

    async def _flush(self) -> None:
        """Make the next request cold: a one-token prompt replaces the backend's KV cache, so
        every hole and mode pays its whole prompt and latencies compare fairly."""
        await _flush_backend(self.backend)

    async def _one(
        self,
        mode: str,
        hole: Hole,
        document: Document,
        position: Position,
        text: str,
        line_start: int,
        line_end: int,
        language: str | None,
    ) -> HoleResult:
        engine = self.engines[mode]
        provider = self.providers.get(mode)
        if provider is not None:
            provider.forget_region()
        use_context = mode != "none"
        await self._flush()
        options = CompletionOptions(
            mode=CompletionMode.SINGLE_LINE,
            use_context=use_context,
            max_tokens=self.settings.max_tokens,
        )
        completion = await engine.complete(document, position, options)
        # The same prompt again (the provider's sticky context makes it identical), to count
        # its tokens: an early-stopped stream reports no usage.
        plan = await engine.plan(document, position, options)
        predicted = completion.text.split("\n", 1)[0].rstrip()
        cursor = line_start + hole.column
        completed = text[:cursor] + predicted + text[line_end:]
        result = HoleResult(
            hole=hole.id,
            mode=mode,
            path=hole.path,
            line=hole.line + 1,
            target=hole.target,
            predicted=predicted,
            exact=predicted.strip() == hole.target.strip(),
            edit_similarity=round(edit_similarity(predicted.strip(), hole.target.strip()), 4),
            api_match=api_match(predicted, hole.names),
            first_use=hole.first_use,
            syntax_ok=syntax_ok(completed, text, language),
            latency_s=round(completion.latency_s, 4),
            context_s=round(provider.last.seconds if provider else 0.0, 5),
            prompt_tokens=engine.count_tokens(plan.prompt),
            cached_prompt_tokens=completion.cached_prompt_tokens or 0,
            context_files=len(provider.last.snippets) if provider else 0,
            constrained=bool(provider.last.member_names) if provider else False,
        )
        if self.settings.probe and len(hole.target) >= 4:
            await self._probe(engine, hole, document, cursor, options, result)
        return result

    async def _probe(
        self,
        engine: CompletionEngine,
        hole: Hole,
        document: Document,
        cursor: int,
        options: CompletionOptions,
        result: HoleResult,
    ) -> None:
        """The typing probe: the same hole after the first characters of the answer were typed
        (the request an editor sends next); its prompt reuse and latency go into ``result``."""
        typed = hole.target[: min(4, max(1, len(hole.target) // 3))]
        probe_doc = Document(
            document.text[:cursor] + typed + document.text[cursor:],
            document.path,
            document.language,
        )
        started = time.perf_counter()
        probe = dataclasses.replace(options, max_tokens=4)
        plan = await engine.plan(probe_doc, Position(hole.line, hole.column + len(typed)), probe)
        generated = await self.backend.generate(plan.request)
        result.probe_latency_s = round(time.perf_counter() - started, 4)
        result.probe_prompt_tokens = generated.usage.prompt_tokens
        result.probe_cached_tokens = generated.usage.cached_prompt_tokens


async def _flush_backend(backend: Backend) -> None:
    await backend.generate(GenerationRequest(prompt="\n", max_tokens=1))


def load_results(path: Path, settings: RepoEvalSettings) -> list[dict[str, Any]]:
    """Rows of an earlier run with the same settings (empty if none or different)."""
    if not path.is_file():
        return []
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh):
            if not line.strip():
                continue
            data = json.loads(line)
            if number == 0:
                if data != json.loads(json.dumps(settings.header())):
                    return []
                continue
            rows.append(data)
    return rows
