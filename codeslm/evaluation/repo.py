"""``codeslm eval repo``: completion quality on a real repository, with and without context.

Holes are lines chosen deterministically (a seed) among lines that use a name defined in
another file of the repository (the CrossCodeEval criterion); import lines, definition
headers, comments and strings are never holes. Where a hole starts (``cut``):

- ``api`` (CrossCodeEval's split): right before the first cross-file name of the line, so the
  text before it on the line stays visible and the hidden text starts where knowledge of
  another file is needed (``limits = httpx.|Limits(max_connections=1)``);
- ``line``: the whole line from its first non-blank character (harder: the model must also
  guess what the statement is for).

The engine completes the hole in single-line mode and the first line of the completion is
scored against the hidden text:

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

import builtins
import dataclasses
import io
import json
import logging
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..backends.base import Backend
from ..completion.request import CompletionOptions
from ..context import languages, tags
from ..context.index import WorkspaceIndex
from ..context.provider import WorkspaceProvider
from ..context.secrets import strip_strings
from ..context.similarity import IDENT
from ..engine import CompletionEngine
from ..errors import InputError
from ..session import Session
from ..types import CompletionMode, Document, GenerationRequest, Position

MODES = ("none", "infile", "repo")
MAX_DEFINERS = 8
_SKIP_LINE = re.compile(
    r"^(?:import\s|from\s+\S+\s+import\s|#|//|/\*|\*|@|package\s|use\s|#include|export\s.*\sfrom\s"
    r"|(?:async\s+)?def\s|class\s|func\s|fn\s|pub\s+fn\s|function\s|interface\s|type\s|struct\s"
    r"|\"\"\"|''')"
)
_STRINGY = frozenset({"string", "string_content", "comment", "string_fragment",
                      "template_string", "raw_string_literal", "interpreted_string_literal",
                      "line_comment", "block_comment", "concatenated_string"})


_IMPORTS = frozenset({"import_statement", "import_from_statement", "future_import_statement",
                     "import_declaration", "use_declaration", "preproc_include",
                     "import_spec_list"})
_PY_BUILTINS = frozenset(dir(builtins))
# Members of built-in types, files and loggers: ``.join``, ``.read`` or ``logger.debug`` on a
# line says nothing about the repository's own API even when the repository happens to define
# a ``join``.
_PY_BUILTIN_MEMBERS = frozenset(
    name for kind in (str, bytes, list, dict, set, tuple, int, float, object, io.TextIOWrapper,
                      io.BufferedReader, logging.Logger) for name in dir(kind))


def _inside(node: Any, types: frozenset[str]) -> bool:
    while node is not None:
        if node.type in types:
            return True
        node = node.parent
    return False


@dataclass(frozen=True, slots=True)
class Hole:
    """A hidden line: ``path`` relative to the root, 0-based ``line``, the indentation width,
    the ``column`` where the hidden ``target`` starts (the end of the line is hidden too);
    ``names`` are the cross-file names it uses."""

    id: str
    path: str
    line: int
    indent: int
    target: str
    names: tuple[str, ...]
    column: int  # the cursor: the indentation for a whole-line hole
    # No cross-file name of the hidden part appears in the file above the hole (imports
    # aside): only another file can tell the model what comes (CrossCodeEval's intent).
    first_use: bool = False


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


@dataclass(slots=True)
class ModeSummary:
    """Aggregates of one mode."""

    mode: str
    holes: int = 0
    exact: float = 0.0
    edit_similarity: float = 0.0
    syntax_ok: float = 0.0
    api_match: float = 0.0
    p50_s: float = 0.0
    p95_s: float = 0.0
    prompt_tokens: float = 0.0
    cache_reuse: float = 0.0
    probe_reuse: float | None = None
    probe_p50_s: float | None = None
    context_p95_ms: float = 0.0
    first_use_holes: int = 0  # holes whose cross-file names the file has not used yet
    first_use_exact: float = 0.0  # exact match on those
    constrained_holes: int = 0  # holes whose first identifier was kept to known members
    extra: dict[str, Any] = field(default_factory=dict)


# -- metrics -------------------------------------------------------------------------------


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(predicted: str, target: str) -> float:
    """1 - Levenshtein distance / the longer length (1.0 for two empty strings)."""
    longest = max(len(predicted), len(target))
    return 1.0 if longest == 0 else 1.0 - levenshtein(predicted, target) / longest


def _error_count(text: str, language: str | None) -> int | None:
    tree = tags.parse(text.encode("utf-8"), language)
    if tree is None:
        return None
    if not tree.root_node.has_error:
        return 0
    count = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        elif node.has_error:
            stack.extend(node.children)
    return count


def syntax_ok(completed: str, original: str, language: str | None) -> bool:
    """True when ``completed`` has no more syntax errors than ``original`` (languages without
    a grammar count as valid)."""
    after = _error_count(completed, language)
    if after is None:
        return True
    before = _error_count(original, language) or 0
    return after <= before


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


# -- holes ---------------------------------------------------------------------------------


CUTS = ("api", "line")


def pick_holes(index: WorkspaceIndex, *, count: int, seed: int, per_file: int = 2,
               read: Callable[[str], str | None] | None = None, cut: str = "line") -> list[Hole]:
    """Deterministic holes on lines that use names defined only in other files; the same
    lines for every ``cut`` (only where the hidden text starts differs)."""
    if cut not in CUTS:
        raise InputError(f"unknown hole cut {cut!r}", hint="use api or line")
    candidates: dict[str, list[Hole]] = {}
    for path in sorted(index.entries):
        entry = index.entries[path]
        if languages.spec_for(entry.language) is None:
            continue
        text = read(path) if read else _read(index.root / path)
        if text is None:
            continue
        found = _holes_in(index, path, text, entry.language, cut)
        if found:
            candidates[path] = found
    rng = random.Random(seed)
    pool: list[Hole] = []
    for path in sorted(candidates):
        holes = list(candidates[path])
        rng.shuffle(holes)
        pool.extend(holes[:per_file])
    rng.shuffle(pool)
    return sorted(pool[:count], key=lambda h: (h.path, h.line))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _holes_in(index: WorkspaceIndex, path: str, text: str, language: str | None,
              cut: str = "line") -> list[Hole]:
    spec = languages.spec_for(language)
    keywords = spec.keywords if spec else frozenset()
    tree = tags.parse(text.encode("utf-8"), language)
    entry = index.entries[path]
    local_names = {s.name for s in entry.symbols}
    external = index.outside_modules(path)
    def_lines = {s.start_line for s in entry.symbols}
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line.encode("utf-8")) + 1)
    out: list[Hole] = []
    first_line: dict[str, int] = {}  # word -> the first line using it, imports aside
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        node = None
        if tree is not None and stripped:
            byte = offsets[i] + len(line[:indent].encode("utf-8"))
            node = tree.root_node.descendant_for_byte_range(byte, byte + 1)
        if node is None or not _inside(node, _IMPORTS):
            for word in IDENT.findall(strip_strings(line)):
                first_line.setdefault(word, i)
        if not 8 <= len(stripped) <= 160 or i in def_lines or _SKIP_LINE.match(stripped):
            continue
        if node is not None and _inside(node, _STRINGY | _IMPORTS):
            continue
        names = []
        code = strip_strings(stripped)
        for name in dict.fromkeys(IDENT.findall(code)):
            if len(name) < 3 or name in keywords or name.startswith("__") or \
                    name in local_names or (language == "python" and (
                        name in _PY_BUILTINS or name in _PY_BUILTIN_MEMBERS)):
                continue
            found = index.definitions(name)
            files = {p for p, _ in found}
            # An API: a function, class, method or a constant named like one (not a variable
            # that merely shares its name with something elsewhere), called, accessed as an
            # attribute or capitalised (a class or a constant) on this line.
            api = any(s.kind not in {"constant", "variable", "field"} or s.name.isupper()
                      for _, s in found) and (
                name[0].isupper() or re.search(rf"(?:\.{name}\b|\b{name}\s*\()", code))
            if api and files and path not in files and len(files) <= MAX_DEFINERS and \
                    not _only_on_external(code, name, external):
                names.append(name)
        if not names:
            continue
        column = indent if cut == "line" else _first_use(line, names, indent, tree, offsets[i])
        if column is None:
            continue  # every use is inside a string: not an API use after all
        hidden = set(IDENT.findall(strip_strings(line[column:])))
        out.append(Hole(f"{path}:{i + 1}", path, i, indent, line[column:].rstrip(),
                        tuple(names), column,
                        first_use=not any(first_line.get(n, i) < i
                                          for n in names if n in hidden)))
    return out


def _only_on_external(code: str, name: str, external: set[str]) -> bool:
    """Whether every use of ``name`` in ``code`` is a member of an outside module
    (``asyncio.run`` when the repository also defines a ``run``)."""
    uses = list(re.finditer(rf"(?:\b(\w+)\s*\.\s*)?\b{re.escape(name)}\b", code))
    return bool(uses) and all(m.group(1) in external for m in uses)


def _first_use(line: str, names: Sequence[str], indent: int, tree: Any,
               line_byte: int) -> int | None:
    """The column of the first use of any of ``names`` on ``line`` outside strings and
    comments (None when there is none). A lower-case name counts where it is used as an API
    (``.name`` or ``name(``), not where a local variable of the same name is assigned."""
    best: int | None = None
    for name in names:
        for m in re.finditer(rf"\b{re.escape(name)}\b", line):
            if m.start() < indent or (best is not None and m.start() >= best):
                break
            if not name[0].isupper() and not (
                    line[: m.start()].rstrip().endswith(".")
                    or re.match(r"\s*\(", line[m.end():])):
                continue
            if tree is not None:
                byte = line_byte + len(line[: m.start()].encode("utf-8"))
                node = tree.root_node.descendant_for_byte_range(byte, byte + 1)
                if node is not None and _inside(node, _STRINGY):
                    continue
            best = m.start()
            break
    return best


# -- running -------------------------------------------------------------------------------


class RepoEvaluation:
    """Runs holes through one engine per context mode over the session's backend and a shared
    index (the session builds the engines)."""

    def __init__(self, index: WorkspaceIndex, session: Session,
                 settings: RepoEvalSettings) -> None:
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
                results.append(await self._one(mode, hole, document, position, text,
                                               line_start, line_end, language))
        finally:
            with self.index.lock:
                self.index.revert_overlay(hole.path)
        return results

    async def _flush(self) -> None:
        """Make the next request cold: a one-token prompt replaces the backend's KV cache, so
        every hole and mode pays its whole prompt and latencies compare fairly."""
        await _flush_backend(self.backend)

    async def _one(self, mode: str, hole: Hole, document: Document, position: Position,
                   text: str, line_start: int, line_end: int,
                   language: str | None) -> HoleResult:
        engine = self.engines[mode]
        provider = self.providers.get(mode)
        if provider is not None:
            provider.forget_region()
        use_context = mode != "none"
        await self._flush()
        options = CompletionOptions(mode=CompletionMode.SINGLE_LINE, use_context=use_context,
                                    max_tokens=self.settings.max_tokens)
        completion = await engine.complete(document, position, options)
        # The same prompt again (the provider's sticky context makes it identical), to count
        # its tokens: an early-stopped stream reports no usage.
        plan = await engine.plan(document, position, options)
        predicted = completion.text.split("\n", 1)[0].rstrip()
        cursor = line_start + hole.column
        completed = text[:cursor] + predicted + text[line_end:]
        result = HoleResult(
            hole=hole.id, mode=mode, path=hole.path, line=hole.line + 1, target=hole.target,
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
            typed = hole.target[: min(4, max(1, len(hole.target) // 3))]
            probe_doc = Document(document.text[:cursor] + typed + document.text[cursor:],
                                 document.path, document.language)
            started = time.perf_counter()
            probe = dataclasses.replace(options, max_tokens=4)
            plan = await engine.plan(probe_doc, Position(hole.line, hole.column + len(typed)),
                                     probe)
            generated = await self.backend.generate(plan.request)
            result.probe_latency_s = round(time.perf_counter() - started, 4)
            result.probe_prompt_tokens = generated.usage.prompt_tokens
            result.probe_cached_tokens = generated.usage.cached_prompt_tokens
        return result


async def _flush_backend(backend: Backend) -> None:
    await backend.generate(GenerationRequest(prompt="\n", max_tokens=1))


def api_match(predicted: str, names: Sequence[str]) -> bool:
    """Whether every cross-file name of a hole appears (as an identifier) in the prediction:
    the part of a line that context from other files can supply (CrossCodeEval's identifier
    match, all-or-nothing)."""
    found = set(IDENT.findall(predicted))
    return all(name in found for name in names)


def summarize(results: Sequence[dict[str, Any]], modes: Sequence[str],
              names: dict[str, Sequence[str]] | None = None,
              first_use: dict[str, bool] | None = None) -> list[ModeSummary]:
    """Per-mode aggregates of result rows (as stored in the JSONL file). ``names`` (hole id ->
    cross-file names) and ``first_use`` (hole id -> Hole.first_use) fill ``api_match`` and
    ``first_use`` for rows written before those existed."""
    out = []
    for mode in modes:
        rows = [r for r in results if r["mode"] == mode]
        s = ModeSummary(mode, holes=len(rows))
        if rows:
            n = len(rows)
            s.exact = sum(r["exact"] for r in rows) / n
            s.edit_similarity = statistics.fmean(r["edit_similarity"] for r in rows)
            s.syntax_ok = sum(r["syntax_ok"] for r in rows) / n
            s.api_match = sum(
                bool(r.get("api_match") if r.get("api_match") is not None else
                     api_match(r["predicted"], (names or {}).get(r["hole"], ())))
                for r in rows) / n
            latencies = [r["latency_s"] for r in rows]
            s.p50_s = percentile(latencies, 0.5)
            s.p95_s = percentile(latencies, 0.95)
            s.prompt_tokens = statistics.fmean(r["prompt_tokens"] for r in rows)
            s.cache_reuse = _ratio(rows, "cached_prompt_tokens", "prompt_tokens")
            s.context_p95_ms = 1000 * percentile([r["context_s"] for r in rows], 0.95)
            firsts = [r for r in rows if (r.get("first_use") if r.get("first_use") is not None
                                          else (first_use or {}).get(r["hole"], False))]
            s.constrained_holes = sum(bool(r.get("constrained")) for r in rows)
            s.first_use_holes = len(firsts)
            s.first_use_exact = sum(r["exact"] for r in firsts) / len(firsts) if firsts else 0.0
            probes = [r for r in rows if r.get("probe_prompt_tokens")]
            if probes:
                s.probe_reuse = _ratio(probes, "probe_cached_tokens", "probe_prompt_tokens")
                s.probe_p50_s = percentile([r["probe_latency_s"] for r in probes], 0.5)
        out.append(s)
    return out


def _ratio(rows: Sequence[dict[str, Any]], part: str, whole: str) -> float:
    total = sum(r[whole] or 0 for r in rows)
    return sum(r[part] or 0 for r in rows) / total if total else 0.0


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
