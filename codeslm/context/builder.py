"""The context builder's core: a cursor in a document -> ranked, budget-fitted snippets.

Pure given its inputs (the index, a source of file lines, the file graph): it reads no files
itself. Candidates come from three places, from the cursor outward:

1. **scope** - the enclosing definitions whose headers scrolled out of the local window;
2. **definitions** - names used near the cursor, resolved through the file's imports (then the
   current file, then unambiguous global definitions) to their definitions, shown as whole
   small functions or signatures/skeletons;
3. **similar** - windows of other files (and of the current file outside the local window)
   lexically similar to the lines before the cursor (Jaccard, RepoCoder-style), with the lines
   that follow them.

Scores combine proximity to the cursor, resolution confidence, a personalised-PageRank prior
over the def/ref file graph and recency; selection is greedy under a token budget counted with
the model's tokenizer, and only snippets above a relevance floor are used: on a CPU every
prompt token costs prefill time, so an unhelpful snippet is worse than none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field
from typing import Protocol

from . import languages, members, similarity
from .budget import select
from .graph import FileGraph, personalized_pagerank
from .index import WorkspaceIndex
from .secrets import strip_strings
from .snippets import (
    Snippet,
    is_public_api,
    render_definition,
    render_lines,
    render_module_summary,
)
from .tags import MAX_SIGNATURE_CHARS, Symbol

TokenCounter = Callable[[str], int]

_MEMBER_AT_CURSOR = re.compile(r"\b([A-Za-z_]\w*)\s*\.\s*([A-Za-z_]\w*)?$")
_ATTR = re.compile(r"(?:\b([A-Za-z_]\w*)\s*)?\.\s*([A-Za-z_]\w*)|\b([A-Za-z_]\w*)")

_LEADING_NAME = re.compile(r"[A-Za-z_]\w*")
_ASSIGNED = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE)
# ``-> RunResult:`` (a plain or generic class name; ``-> None``/builtins never match a class)
_RETURNS_CLASS = re.compile(r"->\s*['\"]?([A-Z]\w*)")
# ``class Name(Base, Mixin[T]):`` -> ``Base, Mixin[T]``
_BASES = re.compile(r"^\s*class\s+\w+\s*(?:\[[^\]]*\])?\s*\(([^)]*)\)")
_AS_OR_FOR = re.compile(r"\b(?:as|for)[ \t]+([A-Za-z_]\w*)")

MAX_UNUSED_IMPORTS = 40
MAX_HEADER_LINES = 24  # a definition header read from source when its signature was cut

LANGUAGE_FAMILIES = {"typescript": "js", "tsx": "js", "javascript": "js", "c": "c", "cpp": "c"}


class LineSource(Protocol):
    """Where the builder gets file contents (open buffers first, then disk)."""

    def lines(self, path: str) -> list[str] | None:
        """The lines of ``path`` as indexed, or None when unavailable."""
        ...

    def text(self, path: str) -> str | None:
        """The text of ``path`` as indexed (``lines`` joined), or None when unavailable."""
        ...


@dataclass(frozen=True, slots=True)
class BuilderOptions:
    """Tuning knobs (defaults chosen on real repositories; see benchmarks/RESULTS.md)."""

    near_above: int = 30  # lines above the cursor whose names are resolved
    near_below: int = 8
    query_lines: int = 10  # lines before the cursor that form the similarity query
    candidate_files: int = 8  # files searched for similar windows (by IDF overlap)
    windows_per_file: int = 2
    window_after: int = 4  # lines after a similar window that are shown with it
    min_definition_score: float = 0.2
    min_similarity: float = 0.2
    similarity_weight: float = 2.0
    max_definers: int = 3  # a name defined in more files is too ambiguous to guess
    defs_per_name: int = 2
    ppr_max_pushes: int = 24
    api_names: int = 30  # names listed for ``module.`` at the cursor
    # A name the file imports but does not use yet is likely what the user is about to write.
    unused_import_score: float = 0.4


@dataclass(frozen=True, slots=True)
class CursorQuery:
    """One request: the document, the cursor and the local window the engine will show."""

    path: str
    language: str | None
    text: str
    offset: int
    window_start: int  # offset of the first character of the local prefix
    window_end: int  # offset just past the local suffix
    scope: str = "repo"  # repo | infile


@dataclass(slots=True)
class _Cursor:
    lines: list[str]
    line: int
    column: int
    win_first: int
    win_last: int
    keywords: frozenset[str] = field(default_factory=frozenset)


def _family(language: str | None) -> str:
    return LANGUAGE_FAMILIES.get(language or "", language or "")


class ContextBuilder:
    """Candidate generation and selection over one :class:`WorkspaceIndex`."""

    def __init__(self, index: WorkspaceIndex, source: LineSource, *,
                 options: BuilderOptions | None = None) -> None:
        self.index = index
        self.source = source
        self.options = options or BuilderOptions()
        self.graph = FileGraph(index)
        self._windows: dict[tuple[str, str], similarity.FileWindows] = {}
        # (path, content hash, class line) -> the names the class binds itself (or None)
        self._own_members: dict[tuple[str, str, int], set[str] | None] = {}

    # -- public ----------------------------------------------------------------------------

    def build(self, query: CursorQuery, *, budget_tokens: int, count_tokens: TokenCounter,
              recent: Mapping[str, float] | None = None) -> list[Snippet]:
        """The chosen snippets for ``query``, best first."""
        candidates = self.candidates(query, recent or {})
        return select(candidates, budget_tokens, count_tokens)

    def candidates(self, query: CursorQuery, recent: Mapping[str, float]) -> list[Snippet]:
        """Every candidate snippet with its score (unsorted, may overlap)."""
        cursor = self._cursor(query)
        prior = self.prior(query.path, recent) if query.scope == "repo" else {}
        out: list[Snippet] = []
        out.extend(self._scope_snippets(query, cursor))
        out.extend(self._definition_snippets(query, cursor, prior))
        out.extend(self._similar_snippets(query, cursor, prior, recent))
        return out

    def member_names(self, query: CursorQuery) -> tuple[str, ...]:
        """When the cursor follows ``receiver.`` (and the start of a name) in Python code, what
        may follow: the rest of every member name that receiver has, if the source tells the
        whole set (see :mod:`.members`); empty when it cannot (unknown receiver, ``self``,
        a base from outside, a string or comment, code right after the cursor). In ``infile``
        scope only the current file is read."""
        if query.language != "python":
            return ()
        text, offset = query.text, query.offset
        before = text[text.rfind("\n", 0, offset) + 1: offset]
        m = _MEMBER_AT_CURSOR.search(before)
        after = text[offset: offset + 1]
        if m is None or after.isidentifier() or after.isdigit():
            return ()  # not after ``receiver.``, or inside a name being edited
        c = self._cursor(query)
        receiver, partial = m.group(1), m.group(2) or ""
        lead = before[: m.start(1)].rstrip()
        if lead.endswith(".") or receiver in {"self", "cls"} or receiver in c.keywords or \
                "#" in strip_strings(before) or before.count('"') % 2 or before.count("'") % 2:
            return ()
        imported, modules = self._bindings(query.path)
        names: Set[str] | None = None
        if receiver in modules:
            names = self._module_members(modules[receiver], query)
        else:
            found = self._defs_named(query.path, receiver, imported)
            classes = [d for d in found if d[1].kind == "class"]
            if receiver in imported and len(found) != len(classes):
                return ()  # a function or constant: its type is not known here
            if not classes and receiver not in imported:  # a variable: its class, if told
                classes = self._receiver_classes(query, c, receiver, imported, guess=False)
                if len(classes) == 1 and not self._bound_as(c, receiver, classes[0][1].name,
                                                           imported):
                    return ()
            if len(classes) == 1:
                names = self._class_members(*classes[0], query, depth=4, seen={})
        if not names:
            return ()
        return members.remainders(names, partial)

    def _bound_as(self, c: _Cursor, variable: str, class_name: str,
                  imported: Mapping[str, list[tuple[str, str]]]) -> bool:
        """Whether the nearest line above the cursor that binds ``variable`` (an assignment, a
        parameter, ``as``, ``for``) gives it ``class_name``: by naming the class, or by calling
        a function annotated to return it. A rebinding since the evidence was seen (``x =
        other()``) makes the class unknown."""
        v = re.escape(variable)
        binds = re.compile(rf"(?<![\w.]){v}\s*(?::[^=\n]*)?=(?!=)|\b(?:as|for)\s+{v}\b"
                           rf"|(?<![\w.]){v}\s*:\s*[A-Za-z_'\"]")
        for i in range(c.line - 1, max(-1, c.line - 2 * self.options.near_above), -1):
            line = c.lines[i]
            if binds.search(line):
                return re.search(rf"\b{re.escape(class_name)}\b", line) is not None or \
                    self._returned_class(c, variable, imported) == class_name
        return False

    def _class_members(self, path: str, cls: Symbol, query: CursorQuery, depth: int,
                       seen: dict[tuple[str, int], Set[str] | None]) -> Set[str] | None:
        """Every member of ``cls`` (bases included), or None when not all are known. ``seen``
        holds the classes already read in this lookup (a diamond of bases is read once)."""
        key = (path, cls.start_line)
        if key in seen:
            return seen[key]
        seen[key] = None  # a cycle of bases is not a known set
        if query.scope != "repo" and path != query.path:
            return None
        entry = self.index.entries.get(path)
        if entry is None or depth < 0:
            return None
        cached = (path, entry.hash, cls.start_line)
        if cached not in self._own_members:
            lines = self.source.lines(path)
            if lines is None:
                return None
            if len(self._own_members) >= 256:
                self._own_members.clear()
            self._own_members[cached] = members.class_own_members(lines, cls, entry.symbols)
        own = self._own_members[cached]
        bases = members.class_bases(self._header(path, cls))
        if own is None or bases is None:
            return None
        names = own | members.OBJECT_MEMBERS
        imported, _ = self._bindings(path)
        for base in bases:
            found = [d for d in self._defs_named(path, base, imported) if d[1].kind == "class"]
            inherited: Set[str] | None
            if len(found) == 1 and found[0][1] is not cls:
                inherited = self._class_members(*found[0], query, depth - 1, seen)
            else:
                inherited = None if found else members.KNOWN_BASES.get(base)
            if inherited is None:
                return None
            names |= inherited
        seen[key] = names
        return names

    def _module_members(self, files: list[str], query: CursorQuery,
                        depth: int = 2) -> set[str] | None:
        """Every name the module ``files`` offer (its submodules and star imports included),
        or None when not all are known."""
        names: set[str] = set()
        for path in files:
            entry = self.index.entries.get(path)
            lines = self.source.lines(path)
            if entry is None or lines is None or (query.scope != "repo" and path != query.path):
                return None
            bound = [local for imp in entry.imports for _, local in imp.names]
            bound += [imp.alias for imp in entry.imports if imp.alias]
            own = members.module_own_members(lines, entry.symbols, bound)
            if own is None:
                return None
            names |= own
            resolved = self.index.resolve_imports(path)
            for module in members.star_imports(lines):
                targets = resolved.get(module, [])
                inner = self._module_members(targets, query, depth - 1) if targets and \
                    depth > 0 else None
                if inner is None:
                    return None
                names |= inner
            if path.rsplit("/", 1)[-1] == "__init__.py":
                folder = path[: -len("__init__.py")]
                names.update(p[len(folder):].split("/", 1)[0].removesuffix(".py")
                             for p in self.index.entries if p.startswith(folder))
        return names

    def prior(self, path: str, recent: Mapping[str, float]) -> dict[str, float]:
        """Personalised PageRank of files, seeded at ``path`` and recently touched files,
        scaled so the best other file is 1."""
        seeds = {path: 1.0}
        for other, weight in recent.items():
            if other != path and other in self.index.entries:
                seeds[other] = seeds.get(other, 0.0) + 0.3 * weight
        rank = personalized_pagerank(self.graph.out_edges, seeds,
                                     max_pushes=self.options.ppr_max_pushes)
        rank.pop(path, None)
        top = max(rank.values(), default=0.0)
        return {k: v / top for k, v in rank.items()} if top > 0 else {}

    # -- cursor ----------------------------------------------------------------------------

    def _cursor(self, q: CursorQuery) -> _Cursor:
        text = q.text
        line = text.count("\n", 0, q.offset)
        column = q.offset - (text.rfind("\n", 0, q.offset) + 1)
        spec = languages.spec_for(q.language)
        return _Cursor(
            lines=text.split("\n"),
            line=line,
            column=column,
            win_first=text.count("\n", 0, q.window_start),
            win_last=text.count("\n", 0, max(q.window_start, q.window_end - 1)),
            keywords=spec.keywords if spec else frozenset(),
        )

    def _names_near(self, c: _Cursor) -> tuple[dict[str, float], dict[str, float],
                                                 list[tuple[str, str, float]]]:
        """Names near the cursor with proximity weights: plain names, attribute names, and
        ``(receiver, attribute, weight)`` pairs."""
        plain: dict[str, float] = {}
        attrs: dict[str, float] = {}
        pairs: list[tuple[str, str, float]] = []
        o = self.options
        first = max(0, c.line - o.near_above)
        last = min(len(c.lines) - 1, c.line + o.near_below)
        for i in range(first, last + 1):
            text = strip_strings(c.lines[i][: c.column] if i == c.line else c.lines[i])
            text = _imported_names_part(text)
            distance = abs(c.line - i)
            weight = 1.0 / (1.0 + distance / 6.0)
            if i > c.line:
                weight *= 0.5
            chain_end, chain_root = -1, None
            for m in _ATTR.finditer(text):
                receiver, attr, name = m.group(1), m.group(2), m.group(3)
                if attr and receiver is None and m.start() == chain_end:
                    receiver = chain_root  # ``a.b.c``: ``c`` is a member of ``a``'s chain
                chain_end, chain_root = m.end(), receiver or name
                if attr:
                    if attr not in c.keywords:
                        attrs[attr] = max(attrs.get(attr, 0.0), weight)
                    if receiver and receiver not in c.keywords:
                        plain[receiver] = max(plain.get(receiver, 0.0), weight)
                        pairs.append((receiver, attr, weight))
                elif name and len(name) > 1 and name not in c.keywords:
                    plain[name] = max(plain.get(name, 0.0), weight)
        return plain, attrs, pairs

    # -- scope -----------------------------------------------------------------------------

    def _scope_snippets(self, q: CursorQuery, c: _Cursor) -> list[Snippet]:
        entry = self.index.entries.get(q.path)
        if entry is None:
            return []
        heads = [s for s in entry.symbols
                 if s.start_line < c.win_first and s.end_line >= c.line
                 and s.start_line <= c.line]
        if not heads:
            return []
        lines = self.source.lines(q.path)
        if lines is None:
            return []
        parts = []
        for s in heads:
            sig_lines = s.signature.count("\n") + 1
            parts.append("\n".join(lines[s.start_line:s.start_line + sig_lines]))
        text = "\n".join(parts)
        return [Snippet(q.path, heads[0].start_line, heads[-1].start_line + 1, text, 3.0,
                        "scope", key=f"scope:{q.path}:{heads[-1].start_line}")]

    # -- definitions -----------------------------------------------------------------------

    def _bindings(self, path: str) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
        """Imported names (``local -> [(file, remote name)]``) and module aliases
        (``local -> [file]``) of ``path``."""
        entry = self.index.entries.get(path)
        names: dict[str, list[tuple[str, str]]] = {}
        modules: dict[str, list[str]] = {}
        if entry is None:
            return names, modules
        resolved = self.index.resolve_imports(path)
        for imp in entry.imports:
            files = resolved.get(imp.module, [])
            if not files:
                continue
            if imp.alias:
                modules.setdefault(imp.alias, []).extend(files)
            for remote, local in imp.names:
                submodule = [f for f in files if _stem(f) == remote]
                if submodule:
                    modules.setdefault(local, []).extend(submodule)
                names.setdefault(local, []).extend((f, remote) for f in files
                                                   if _stem(f) != remote)
        return names, modules

    def _defs_in(self, path: str, name: str, *, follow: int = 1,
                 top_level: bool = True) -> list[tuple[str, Symbol]]:
        entry = self.index.entries.get(path)
        if entry is None:
            return []
        found = [(path, s) for s in entry.symbols if s.name == name
                 and (not top_level or not s.scope)]
        if found or follow <= 0:
            return found
        # Re-exported (``from .impl import name`` in a package ``__init__``): follow once.
        names, _ = self._bindings(path)
        out: list[tuple[str, Symbol]] = []
        for f, remote in names.get(name, []):
            out.extend(self._defs_in(f, remote, follow=follow - 1))
        return out

    def _defs_named(self, path: str, name: str,
                    imported: Mapping[str, list[tuple[str, str]]]) -> list[tuple[str, Symbol]]:
        """What ``name`` refers to in ``path`` (whose imports are ``imported``): the imported
        definitions when the file imports it, else its own top-level definitions."""
        if name in imported:
            return [d for f, r in imported[name] for d in self._defs_in(f, r)]
        return self._defs_in(path, name, follow=0)

    def _definition_snippets(self, q: CursorQuery, c: _Cursor,
                             prior: Mapping[str, float]) -> list[Snippet]:
        o = self.options
        plain, attrs, pairs = self._names_near(c)
        imported, modules = self._bindings(q.path)
        local_names = _bound_locally(c, 2 * o.near_above)
        scored: dict[tuple[str, int], tuple[float, str, Symbol]] = {}

        def add(path: str, symbol: Symbol, score: float) -> None:
            if path == q.path and symbol.start_line <= c.win_last and \
                    symbol.end_line >= c.win_first:
                return  # already visible in the local window
            if path != q.path and q.scope != "repo":
                return
            key = (path, symbol.start_line)
            if key not in scored or scored[key][0] < score:
                scored[key] = (score, path, symbol)

        for receiver, attr, weight in pairs:
            for f in modules.get(receiver, []):
                for path, sym in self._defs_in(f, attr)[: o.defs_per_name]:
                    add(path, sym, weight)
        summaries, members = self._member_access(q, c, imported, modules, add)
        for name, weight in plain.items():
            if name in modules:
                continue
            if name in imported:
                for f, remote in imported[name]:
                    for path, sym in self._defs_in(f, remote)[: o.defs_per_name]:
                        add(path, sym, weight)
                continue
            if name not in local_names:
                self._resolve_global(q, name, weight, prior, add, methods=False)
        outside = self.index.outside_modules(q.path)
        outside.update(r for r, _, _ in pairs if r and _made_by(q.text, r, outside))
        on_outside = ({a for r, a, _ in pairs if r in outside}
                      - {a for r, a, _ in pairs if r not in outside})
        for name, weight in attrs.items():
            if name not in on_outside:  # ``asyncio.run`` is not the repository's ``run``
                self._resolve_global(q, name, 0.6 * weight, prior, add, methods=True)
        if q.scope == "repo":
            for name in _unused_imports(q.text, imported):
                for f, remote in imported[name]:
                    for path, sym in self._defs_in(f, remote)[:1]:
                        add(path, sym, o.unused_import_score)
        out = list(summaries)
        for score, path, symbol in scored.values():
            if score < o.min_definition_score:
                continue
            lines = self.source.lines(path)
            if lines is None:
                continue
            entry = self.index.entries.get(path)
            symbols = entry.symbols if entry else ()
            start, end, text = render_definition(symbol, lines, symbols,
                                                 entry.language if entry else None,
                                                 prefer=members | attrs.keys())
            if text.strip():
                out.append(Snippet(path, start, end, text, score, "definition",
                                   key=f"def:{path}:{symbol.start_line}"))
        return out

    def _member_access(self, q: CursorQuery, c: _Cursor,
                       imported: Mapping[str, list[tuple[str, str]]],
                       modules: Mapping[str, list[str]],
                       add: Callable[[str, Symbol, float], None],
                       ) -> tuple[list[Snippet], set[str]]:
        """``module.``, ``Name.`` or ``variable.`` right before the cursor: the module's API (as
        stubs, with what a package re-exports), the class, or the variable's class, whatever
        the user is about to pick a member of; also the member names to show first."""
        m = _MEMBER_AT_CURSOR.search(c.lines[c.line][: c.column])
        if m is None:
            return [], set()
        receiver, partial = m.group(1), m.group(2) or ""
        out: list[Snippet] = []
        if q.scope == "repo":
            for path in modules.get(receiver, []):
                out.extend(self._api_snippets(path, partial, c, add))
        for f, remote in imported.get(receiver, []):
            for path, sym in self._defs_in(f, remote)[:1]:
                add(path, sym, 1.5)
        members: set[str] = set()
        if receiver not in modules and receiver not in imported and receiver not in c.keywords:
            classes = self._receiver_classes(q, c, receiver, imported)
            for rank, (path, cls) in enumerate(self._with_bases(classes)):
                add(path, cls, 1.6 if rank < len(classes) else 1.2)
                entry = self.index.entries.get(path)
                members.update(s.name for s in (entry.symbols if entry else ())
                               if s.scope.rsplit(".", 1)[-1] == cls.name
                               and s.name.startswith(partial) and not s.name.startswith("_"))
        return out, members

    def _receiver_classes(self, q: CursorQuery, c: _Cursor, variable: str,
                          imported: Mapping[str, list[tuple[str, str]]], *, guess: bool = True,
                          ) -> list[tuple[str, Symbol]]:
        """The class of ``variable`` before ``variable.``, read off the code above the cursor:
        the annotated return type of the function whose result it was assigned (see
        :meth:`_returned_class`), an annotation (``request: Request``), a construction
        (``client = httpx.Client(...)``, ``with Client() as client``) or, failing those, a
        class named like the variable (``response`` -> ``Response``). Empty when unknown or
        ambiguous; without ``guess`` the last (the name) is not tried."""
        name = self._returned_class(c, variable, imported)
        v = re.escape(variable)
        patterns = (
            rf"\b{v}\s*:\s*(?:[\w.]+\.)?([A-Z]\w*)",
            rf"\b{v}\s*=\s*(?:await\s+)?(?:[\w.]+\.)?([A-Z]\w*)\s*[(.]",
            rf"(?:[\w.]+\.)?([A-Z]\w*)\s*\([^()]*\)\s+as\s+{v}\b",
        )
        for i in range(c.line, max(-1, c.line - 2 * self.options.near_above), -1):
            if name:
                break
            text = c.lines[i][: c.column] if i == c.line else c.lines[i]
            for pattern in patterns:
                found = re.search(pattern, text)
                if found:
                    name = found.group(1)
                    break
        guessed = name is None
        if guessed and not guess:
            return []
        if guessed:
            name = "".join(part.capitalize() for part in variable.split("_") if part)
        if not name:
            return []
        if name in imported:
            found_defs = [d for f, remote in imported[name] for d in self._defs_in(f, remote)]
        else:
            found_defs = self.index.definitions(name)
        classes = [(p, s) for p, s in found_defs if s.kind == "class" and not s.scope
                   and _family(self.index.entries[p].language) == _family(q.language)]
        if len({p for p, _ in classes}) > (1 if guessed else self.options.max_definers):
            return []
        return classes[: self.options.defs_per_name]

    def _returned_class(self, c: _Cursor, variable: str,
                        imported: Mapping[str, list[tuple[str, str]]]) -> str | None:
        """The class ``variable`` holds when the code above assigns it a call's result and
        that function's definition annotates its return type (``result = await
        Runner.run(...)`` with ``async def run(...) -> RunResult``), or None."""
        assigned = re.compile(rf"\b{re.escape(variable)}\s*=\s*(?:await\s+)?"
                              rf"(?:([A-Za-z_]\w*)\.)?([A-Za-z_]\w*)\s*\(")
        for i in range(c.line - 1, max(-1, c.line - 2 * self.options.near_above), -1):
            found = assigned.search(c.lines[i])
            if found:
                break
        else:
            return None
        owner, function = found.group(1), found.group(2)
        if owner is not None:
            classes = ([d for f, r in imported.get(owner, []) for d in self._defs_in(f, r)]
                       or self.index.definitions(owner))
            scopes = {(p, s.name) for p, s in classes if s.kind == "class"}
            defs = [(p, s) for p, s in self.index.definitions(function)
                    if (p, s.scope.rsplit(".", 1)[-1]) in scopes]
        elif function in imported:
            defs = [d for f, r in imported[function] for d in self._defs_in(f, r)]
        else:
            defs = [(p, s) for p, s in self.index.definitions(function) if not s.scope]
        names = {m.group(1) for p, s in defs[: self.options.max_definers]
                 if (m := _RETURNS_CLASS.search(self._header(p, s)))}
        return names.pop() if len(names) == 1 else None

    def _header(self, path: str, symbol: Symbol) -> str:
        """The whole header of a definition: its stored signature, or, where that was cut
        (a long parameter list), the source lines up to the one that ends the header, so a
        return annotation after many parameters is seen."""
        if len(symbol.signature) < MAX_SIGNATURE_CHARS and not symbol.signature.endswith("..."):
            return symbol.signature
        lines = self.source.lines(path)
        if lines is None:
            return symbol.signature
        header = []
        for line in lines[symbol.start_line: symbol.start_line + MAX_HEADER_LINES]:
            header.append(line)
            if line.rstrip().endswith((":", "{")) and len(header) > 1:
                break
        return "\n".join(header)

    def _with_bases(self, classes: list[tuple[str, Symbol]]) -> list[tuple[str, Symbol]]:
        """``classes`` and, after them, the repository classes they inherit from (one level):
        a member the user picks is often defined on a base (``RunResultStreaming`` gets
        ``to_input_list`` from ``RunResultBase``)."""
        out = list(classes)
        for path, cls in classes:
            bases = _BASES.search(cls.signature)
            if not bases:
                continue
            imported, _ = self._bindings(path)
            for base in _LEADING_NAME.findall(bases.group(1)):
                if not base[:1].isupper():
                    continue
                found = self._defs_named(path, base, imported)
                out.extend((p, s) for p, s in found[:1]
                           if s.kind == "class" and (p, s) not in out)
        return out

    def _api_snippets(self, module: str, partial: str, c: _Cursor,
                      add: Callable[[str, Symbol, float], None]) -> list[Snippet]:
        """The API of ``module`` as stub lines, one snippet per defining file. With more names
        than fit, the ones the user began typing come first, then names that match a word on
        the cursor's line (``limits = httpx.`` -> ``Limits``), then the most used ones; the
        first two of those that match are also offered whole (a class with its constructor),
        since the completion is most likely a call of one of them."""
        exports = self._exports(module)
        if not exports:
            return []
        line_words = {w.lower() for w in re.findall(r"[A-Za-z_]\w*", c.lines[c.line][: c.column])}

        def rank(item: tuple[str, Symbol]) -> tuple[bool, bool, int, str]:
            name = item[1].name
            return (not name.startswith(partial), name.lower() not in line_words,
                    -len(self.index.files_with(name)), name)

        chosen = sorted(exports, key=rank)[: self.options.api_names]
        whole = set()
        for path, symbol in chosen[:2]:
            typed, named = rank((path, symbol))[:2]
            if (partial and not typed) or not named:
                add(path, symbol, 1.6)
                whole.add((path, symbol.start_line))
        by_file: dict[str, list[Symbol]] = {}
        for path, symbol in chosen:
            if (path, symbol.start_line) not in whole:  # shown whole: no stub as well
                by_file.setdefault(path, []).append(symbol)
        out = []
        for rank_no, (path, symbols) in enumerate(by_file.items()):
            entry = self.index.entries.get(path)
            lines = self.source.lines(path)
            if entry is None or lines is None:
                continue
            start, end, text = render_module_summary(symbols, lines, entry.language,
                                                     prefix=partial,
                                                     limit=self.options.api_names)
            if text:
                out.append(Snippet(path, start, end, text, 1.5 - 0.05 * rank_no, "definition",
                                   key=f"api:{path}"))
        return out

    def _exports(self, module: str, depth: int = 2) -> list[tuple[str, Symbol]]:
        """The public top-level names ``module`` offers: its own, then what its star imports
        bring in and, for a package ``__init__``, the names it imports (re-exports), followed
        ``depth`` files deep. Deduplicated, in discovery order."""
        seen: set[str] = set()
        found: dict[tuple[str, int], tuple[str, Symbol]] = {}

        def visit(path: str, level: int) -> None:
            entry = self.index.entries.get(path)
            if entry is None or path in seen:
                return
            seen.add(path)
            for symbol in entry.symbols:
                if is_public_api(symbol):
                    found.setdefault((path, symbol.start_line), (path, symbol))
            if level <= 0:
                return
            package = path.rsplit("/", 1)[-1].startswith("__init__.")
            resolved = self.index.resolve_imports(path)
            for imp in entry.imports:
                for target in resolved.get(imp.module, []):
                    if not imp.names and not imp.alias:  # from x import *
                        visit(target, level - 1)
                    elif package:
                        for remote, local in imp.names:
                            if local.startswith("_"):
                                continue
                            for where, symbol in self._defs_in(target, remote, follow=0):
                                if is_public_api(symbol):
                                    found.setdefault((where, symbol.start_line), (where, symbol))

        visit(module, depth)
        return list(found.values())

    def _resolve_global(self, q: CursorQuery, name: str, weight: float,
                        prior: Mapping[str, float],
                        add: Callable[[str, Symbol, float], None], *, methods: bool) -> None:
        found = self.index.definitions(name)
        if not found:
            return
        spec = languages.spec_for(q.language)
        if spec is not None and name in spec.builtins:
            return
        local = [(p, s) for p, s in found if p == q.path]
        for path, sym in local[: self.options.defs_per_name]:
            add(path, sym, 0.9 * weight)
        others = [(p, s) for p, s in found if p != q.path and
                  (methods or s.kind != "method") and _specific(s) and
                  _family(self.index.entries[p].language) == _family(q.language)]
        files = {p for p, _ in others}
        if not others or len(files) > self.options.max_definers or local:
            return
        current_is_test = _is_test(q.path)
        for path, sym in sorted(others, key=lambda ps: -prior.get(ps[0], 0.0))[
                : self.options.defs_per_name]:
            confidence = (1.0 / len(files)) * (0.6 + 0.4 * prior.get(path, 0.0))
            if _is_test(path) and not current_is_test:
                confidence *= 0.5
            add(path, sym, weight * confidence)

    # -- similar windows -------------------------------------------------------------------

    def file_windows(self, path: str) -> similarity.FileWindows | None:
        """A file's lines ready for window scoring (a small LRU, per content)."""
        entry = self.index.entries.get(path)
        if entry is None:
            return None
        key = (path, entry.hash)
        cached = self._windows.pop(key, None)
        if cached is None:
            lines = self.source.lines(path)
            if lines is None:
                return None
            spec = languages.spec_for(entry.language)
            cached = similarity.FileWindows(lines, spec.keywords if spec else frozenset(),
                                            text=self.source.text(path))
            if len(self._windows) >= 48:
                self._windows.pop(next(iter(self._windows)))
        self._windows[key] = cached  # most recently used last
        return cached

    def _similar_snippets(self, q: CursorQuery, c: _Cursor, prior: Mapping[str, float],
                          recent: Mapping[str, float]) -> list[Snippet]:
        o = self.options
        first = max(0, c.line - o.query_lines)
        text = "\n".join([*c.lines[first:c.line], c.lines[c.line][: c.column]])
        query = similarity.tokens(text, c.keywords)
        if len(query) < 2:
            return []
        files, anchors = self._candidate_files(q, query, prior, recent)
        out: list[Snippet] = []
        for path in files:
            fw = self.file_windows(path)
            if fw is None:
                continue
            # Only the anchors this file contains (the postings know) are searched for.
            windows = fw.anchored([a for a in anchors if path in self.index.files_with(a)])
            if path == q.path:
                windows = [w for w in windows if w.end <= c.win_first or w.start > c.win_last]
            for score, w in similarity.best_windows(query, windows, o.windows_per_file,
                                                    min_score=o.min_similarity):
                end = min(len(fw.lines), w.end + o.window_after)
                if path == q.path and w.start > c.win_last:
                    end = w.end
                snippet_text = render_lines(fw.lines, w.start, end)
                out.append(Snippet(path, w.start, end, snippet_text,
                                   score * o.similarity_weight, "similar",
                                   key=f"sim:{path}:{w.start}"))
        return out

    def _candidate_files(self, q: CursorQuery, query: set[str], prior: Mapping[str, float],
                         recent: Mapping[str, float]) -> tuple[list[str], list[str]]:
        """Files to search for similar windows (by IDF overlap with the query) and the
        query's rarest identifiers, which anchor the windows worth scoring."""
        n = max(1, len(self.index))
        limit = max(50, n // 5)
        idf: dict[str, float] = {}
        for token in query:
            df = len(self.index.files_with(token))
            if 0 < df <= limit:
                idf[token] = math.log(1.0 + n / df)
        anchors = sorted(idf, key=lambda t: (-idf[t], t))[:12]
        if q.scope != "repo":
            return ([q.path] if q.path in self.index.entries else []), anchors
        family = _family(q.language)
        scores: dict[str, float] = {}
        for token, weight in idf.items():
            for path in self.index.files_with(token):
                scores[path] = scores.get(path, 0.0) + weight
        ranked = []
        for path, score in scores.items():
            entry = self.index.entries.get(path)
            if entry is None or _family(entry.language) != family:
                continue
            boost = 1.0 + 0.3 * prior.get(path, 0.0) + 0.2 * recent.get(path, 0.0)
            ranked.append((score * boost, path))
        ranked.sort(reverse=True)
        chosen = [p for _, p in ranked[: self.options.candidate_files]]
        if q.path in self.index.entries and q.path not in chosen:
            chosen.append(q.path)
        return chosen, anchors


def _imported_names_part(line: str) -> str:
    """``line`` without the module path of an import, which is not a use of its parts (``mcp``
    in ``from mcp.types import Tool``): the names imported stay (``Tool``; ``{ helper }`` of
    ``import { helper } from './util'``); ``import a.b`` keeps nothing."""
    stripped = line.lstrip()
    if stripped.startswith("from "):
        return line.partition(" import ")[2]
    if stripped.startswith("import "):
        return stripped[len("import "):].partition(" from ")[0] if " from " in stripped else ""
    return line


def _unused_imports(text: str, imported: Mapping[str, list[tuple[str, str]]]) -> list[str]:
    """Names ``text`` imports (resolved to files of the repository) that it mentions nowhere
    but in the import itself; none when there are more than ``MAX_UNUSED_IMPORTS``."""
    if not imported:
        return []
    # A substring count (fast on big files) may also count longer names: never more unused.
    unused = [name for name in imported if text.count(name) <= 1]
    # Many unused names: a module that re-exports (``__init__``), not a hint of what is next.
    return unused if len(unused) <= MAX_UNUSED_IMPORTS else []


def _made_by(text: str, variable: str, modules: set[str]) -> bool:
    """Whether ``text`` assigns ``variable`` from a member of one of ``modules``
    (``logger = logging.getLogger(...)``): its members then belong outside too."""
    needle = f"{variable} = "
    at = text.find(needle)
    while at >= 0:
        line_start = text.rfind("\n", 0, at) + 1
        if not text[line_start:at].strip():
            found = _LEADING_NAME.match(text, at + len(needle))
            if found and text.startswith(".", found.end()) and found.group() in modules:
                return True
        at = text.find(needle, at + 1)
    return False


def _bound_locally(c: _Cursor, lines_above: int) -> set[str]:
    """Names the ``lines_above`` the cursor bind themselves: assignment targets, loop
    variables, ``as`` names. Such a name is a local, not the global definition that happens
    to share it (``version = ...`` is not the ``version()`` command elsewhere)."""
    first = max(0, c.line - lines_above)
    text = "\n".join([*c.lines[first:c.line], c.lines[c.line][: c.column]])
    names = set(_ASSIGNED.findall(text))
    names.update(_AS_OR_FOR.findall(text))
    return names


def _specific(symbol: Symbol) -> bool:
    """Whether a global name lookup may pick this definition: functions, classes and the
    like, but a variable only when it is named like a constant (``MAX_SIZE``), since lower
    case names near the cursor are mostly locals that happen to share a name."""
    if symbol.kind not in {"constant", "variable", "field"}:
        return True
    return symbol.name.isupper() and len(symbol.name) > 2


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return ("/tests/" in f"/{path}" or "/test/" in f"/{path}" or name.startswith("test_")
            or name.endswith(("_test.py", "_test.go", ".test.ts", ".test.js", ".spec.ts")))


def _stem(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name.startswith(("__init__.", "index.")) or name == "mod.rs":
        parent = path.rsplit("/", 2)
        return parent[-2] if len(parent) >= 2 else name
    return name.split(".", 1)[0]
