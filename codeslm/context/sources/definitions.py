"""Candidate source 2, **definitions**: names used near the cursor, resolved to where they are
defined and shown as whole small functions or signatures and skeletons.

Names within ``near_above``/``near_below`` lines of the cursor are weighted by proximity;
each is resolved through the file's imports (then the current file, then unambiguous global
definitions, weighted by the file-graph prior) by :class:`~codeslm.context.resolve.Resolver`.
``receiver.`` right before the cursor adds what the user is about to pick a member of: a
module's API as stubs, the class, or the variable's class and its bases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .. import languages
from ..index import WorkspaceIndex
from ..request import BuilderOptions, Cursor, CursorQuery, LineSource, Request, family
from ..resolve import Imported, Resolver, member_at_cursor
from ..secrets import strip_strings
from ..snippets import Snippet, render_definition, render_module_summary
from ..tags import Symbol

_ATTR = re.compile(r"(?:\b([A-Za-z_]\w*)\s*)?\.\s*([A-Za-z_]\w*)|\b([A-Za-z_]\w*)")
_LEADING_NAME = re.compile(r"[A-Za-z_]\w*")
_ASSIGNED = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE)
_AS_OR_FOR = re.compile(r"\b(?:as|for)[ \t]+([A-Za-z_]\w*)")

MAX_UNUSED_IMPORTS = 40

Add = Callable[[str, Symbol, float], None]  # offers a definition with a score


class _Scores:
    """The best score of each definition offered for one request; a definition the local
    window already shows, or one in another file in ``infile`` scope, is not taken."""

    def __init__(self, q: CursorQuery, c: Cursor) -> None:
        self.q, self.c = q, c
        # (path, line) -> (score, path, symbol), in the order definitions were first offered
        self.best: dict[tuple[str, int], tuple[float, str, Symbol]] = {}

    def add(self, path: str, symbol: Symbol, score: float) -> None:
        q, c = self.q, self.c
        if path == q.path and symbol.start_line <= c.win_last and symbol.end_line >= c.win_first:
            return  # already visible in the local window
        if path != q.path and q.scope != "repo":
            return
        key = (path, symbol.start_line)
        if key not in self.best or self.best[key][0] < score:
            self.best[key] = (score, path, symbol)


class DefinitionSource:
    """Definitions of the names near the cursor; see the module docstring."""

    def __init__(
        self, index: WorkspaceIndex, source: LineSource, options: BuilderOptions, resolver: Resolver
    ) -> None:
        self.index = index
        self.source = source
        self.options = options
        self.resolver = resolver

    def candidates(self, request: Request) -> list[Snippet]:
        """API summaries for ``module.`` at the cursor, then one snippet per definition
        scored at least ``min_definition_score``."""
        q, c, prior = request.query, request.cursor, request.prior
        plain, attrs, pairs = self._names_near(c)
        imported, modules = self.resolver.bindings(q.path)
        scores = _Scores(q, c)
        add = scores.add
        o = self.options
        for receiver, attr, weight in pairs:
            for f in modules.get(receiver, []):
                for path, sym in self.resolver.defs_in(f, attr)[: o.defs_per_name]:
                    add(path, sym, weight)
        summaries, members = self._member_access(q, c, imported, modules, add)
        local_names = _bound_locally(c, 2 * o.near_above)
        for name, weight in plain.items():
            if name in modules:
                continue
            if name in imported:
                for f, remote in imported[name]:
                    for path, sym in self.resolver.defs_in(f, remote)[: o.defs_per_name]:
                        add(path, sym, weight)
                continue
            if name not in local_names:
                self._resolve_global(q, name, weight, prior, add, methods=False)
        self._resolve_attributes(q, attrs, pairs, prior, add)
        if q.scope == "repo":
            for name in _unused_imports(q.text, imported):
                for f, remote in imported[name]:
                    for path, sym in self.resolver.defs_in(f, remote)[:1]:
                        add(path, sym, o.unused_import_score)
        return summaries + self._render(scores, prefer=members | attrs.keys())

    def _resolve_attributes(
        self,
        q: CursorQuery,
        attrs: Mapping[str, float],
        pairs: list[tuple[str, str, float]],
        prior: Mapping[str, float],
        add: Add,
    ) -> None:
        """Attribute names (``x.name``) as global definitions, methods included, except the
        members of modules from outside the repository."""
        outside = self.index.outside_modules(q.path)
        outside.update(r for r, _, _ in pairs if r and _made_by(q.text, r, outside))
        on_outside = {a for r, a, _ in pairs if r in outside} - {
            a for r, a, _ in pairs if r not in outside
        }
        for name, weight in attrs.items():
            if name not in on_outside:  # ``asyncio.run`` is not the repository's ``run``
                self._resolve_global(q, name, 0.6 * weight, prior, add, methods=True)

    def _render(self, scores: _Scores, prefer: set[str]) -> list[Snippet]:
        """One snippet per definition scored high enough, its members in ``prefer`` first."""
        out = []
        for score, path, symbol in scores.best.values():
            if score < self.options.min_definition_score:
                continue
            lines = self.source.lines(path)
            if lines is None:
                continue
            entry = self.index.entries.get(path)
            symbols = entry.symbols if entry else ()
            start, end, text = render_definition(
                symbol, lines, symbols, entry.language if entry else None, prefer=prefer
            )
            if text.strip():
                out.append(
                    Snippet(
                        path,
                        start,
                        end,
                        text,
                        score,
                        "definition",
                        key=f"def:{path}:{symbol.start_line}",
                    )
                )
        return out

    def _names_near(
        self, c: Cursor
    ) -> tuple[dict[str, float], dict[str, float], list[tuple[str, str, float]]]:
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

    def _member_access(
        self,
        q: CursorQuery,
        c: Cursor,
        imported: Imported,
        modules: Mapping[str, list[str]],
        add: Add,
    ) -> tuple[list[Snippet], set[str]]:
        """``module.``, ``Name.`` or ``variable.`` right before the cursor: the module's API (as
        stubs, with what a package re-exports), the class, or the variable's class, whatever
        the user is about to pick a member of; also the member names to show first."""
        m = member_at_cursor(c.before())
        if m is None:
            return [], set()
        receiver, partial = m.group(1), m.group(2) or ""
        out: list[Snippet] = []
        if q.scope == "repo":
            for path in modules.get(receiver, []):
                out.extend(self._api_snippets(path, partial, c, add))
        for f, remote in imported.get(receiver, []):
            for path, sym in self.resolver.defs_in(f, remote)[:1]:
                add(path, sym, 1.5)
        members: set[str] = set()
        if receiver not in modules and receiver not in imported and receiver not in c.keywords:
            classes = self.resolver.receiver_classes(q, c, receiver, imported)
            for rank, (path, cls) in enumerate(self.resolver.with_bases(classes)):
                add(path, cls, 1.6 if rank < len(classes) else 1.2)
                entry = self.index.entries.get(path)
                members.update(
                    s.name
                    for s in (entry.symbols if entry else ())
                    if s.scope.rsplit(".", 1)[-1] == cls.name
                    and s.name.startswith(partial)
                    and not s.name.startswith("_")
                )
        return out, members

    def _api_snippets(self, module: str, partial: str, c: Cursor, add: Add) -> list[Snippet]:
        """The API of ``module`` as stub lines, one snippet per defining file. With more names
        than fit, the ones the user began typing come first, then names that match a word on
        the cursor's line (``limits = httpx.`` -> ``Limits``), then the most used ones; the
        first two of those that match are also offered whole (a class with its constructor),
        since the completion is most likely a call of one of them."""
        exports = self.resolver.exports(module)
        if not exports:
            return []
        line_words = {w.lower() for w in _LEADING_NAME.findall(c.before())}

        def rank(item: tuple[str, Symbol]) -> tuple[bool, bool, int, str]:
            name = item[1].name
            return (
                not name.startswith(partial),
                name.lower() not in line_words,
                -len(self.index.files_with(name)),
                name,
            )

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
            start, end, text = render_module_summary(
                symbols, lines, entry.language, prefix=partial, limit=self.options.api_names
            )
            if text:
                out.append(
                    Snippet(
                        path,
                        start,
                        end,
                        text,
                        1.5 - 0.05 * rank_no,
                        "definition",
                        key=f"api:{path}",
                    )
                )
        return out

    def _resolve_global(
        self,
        q: CursorQuery,
        name: str,
        weight: float,
        prior: Mapping[str, float],
        add: Add,
        *,
        methods: bool,
    ) -> None:
        """Offer the definitions of ``name`` found anywhere: the current file's, or else (when
        few files define it, and it is not a builtin) other files', by confidence."""
        found = self.index.definitions(name)
        if not found:
            return
        spec = languages.spec_for(q.language)
        if spec is not None and name in spec.builtins:
            return
        local = [(p, s) for p, s in found if p == q.path]
        for path, sym in local[: self.options.defs_per_name]:
            add(path, sym, 0.9 * weight)
        others = [
            (p, s)
            for p, s in found
            if p != q.path
            and (methods or s.kind != "method")
            and _specific(s)
            and family(self.index.entries[p].language) == family(q.language)
        ]
        files = {p for p, _ in others}
        if not others or len(files) > self.options.max_definers or local:
            return
        current_is_test = _is_test(q.path)
        for path, sym in sorted(others, key=lambda ps: -prior.get(ps[0], 0.0))[
            : self.options.defs_per_name
        ]:
            confidence = (1.0 / len(files)) * (0.6 + 0.4 * prior.get(path, 0.0))
            if _is_test(path) and not current_is_test:
                confidence *= 0.5
            add(path, sym, weight * confidence)


def _imported_names_part(line: str) -> str:
    """``line`` without the module path of an import, which is not a use of its parts (``mcp``
    in ``from mcp.types import Tool``): the names imported stay (``Tool``; ``{ helper }`` of
    ``import { helper } from './util'``); ``import a.b`` keeps nothing."""
    stripped = line.lstrip()
    if stripped.startswith("from "):
        return line.partition(" import ")[2]
    if stripped.startswith("import "):
        return stripped[len("import ") :].partition(" from ")[0] if " from " in stripped else ""
    return line


def _unused_imports(text: str, imported: Imported) -> list[str]:
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


def _bound_locally(c: Cursor, lines_above: int) -> set[str]:
    """Names the ``lines_above`` the cursor bind themselves: assignment targets, loop
    variables, ``as`` names. Such a name is a local, not the global definition that happens
    to share it (``version = ...`` is not the ``version()`` command elsewhere)."""
    text = c.text_above(lines_above)
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
    return (
        "/tests/" in f"/{path}"
        or "/test/" in f"/{path}"
        or name.startswith("test_")
        or name.endswith(("_test.py", "_test.go", ".test.ts", ".test.js", ".spec.ts"))
    )
