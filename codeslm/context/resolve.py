"""Name resolution over the workspace index: what a name (or ``receiver.member``) refers to.

Resolution follows the file's imports first (``from pkg.mod import name``, ``import pkg.mod
as m``, a package ``__init__`` re-exporting once), then the file's own top-level definitions;
a variable's class is read off the code above the cursor (annotations, constructions, the
annotated return type of the call that produced it). The same resolution answers what may
follow ``receiver.`` (:mod:`.receiver_members`).

A ``Definition`` is ``(path, symbol)``. Every method reads the index and the line
source only; none writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .index import WorkspaceIndex
from .request import BuilderOptions, Cursor, CursorQuery, LineSource, family
from .snippets import is_public_api
from .tags import MAX_SIGNATURE_CHARS, Symbol

Definition = tuple[str, Symbol]
# A file's imported names: ``local name -> [(defining file, name there)]``.
Imported = Mapping[str, list[tuple[str, str]]]

_MEMBER_AT_CURSOR = re.compile(r"\b([A-Za-z_]\w*)\s*\.\s*([A-Za-z_]\w*)?$")
_LEADING_NAME = re.compile(r"[A-Za-z_]\w*")
# ``-> RunResult:`` (a plain or generic class name; ``-> None``/builtins never match a class)
_RETURNS_CLASS = re.compile(r"->\s*['\"]?([A-Z]\w*)")
# ``class Name(Base, Mixin[T]):`` -> ``Base, Mixin[T]``
_BASES = re.compile(r"^\s*class\s+\w+\s*(?:\[[^\]]*\])?\s*\(([^)]*)\)")

MAX_HEADER_LINES = 24  # a definition header read from source when its signature was cut


def member_at_cursor(before: str) -> re.Match[str] | None:
    """``receiver.`` (and the start of a member name) ending ``before``, the cursor's line up
    to the cursor: group 1 is the receiver, group 2 what was typed of the member."""
    return _MEMBER_AT_CURSOR.search(before)


class Resolver:
    """Names to definitions over one :class:`WorkspaceIndex`; see the module docstring."""

    def __init__(self, index: WorkspaceIndex, source: LineSource, options: BuilderOptions) -> None:
        self.index = index
        self.source = source
        self.options = options

    def bindings(self, path: str) -> tuple[dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
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
                names.setdefault(local, []).extend((f, remote) for f in files if _stem(f) != remote)
        return names, modules

    def defs_in(
        self, path: str, name: str, *, follow: int = 1, top_level: bool = True
    ) -> list[Definition]:
        entry = self.index.entries.get(path)
        if entry is None:
            return []
        found = [
            (path, s) for s in entry.symbols if s.name == name and (not top_level or not s.scope)
        ]
        if found or follow <= 0:
            return found
        # Re-exported (``from .impl import name`` in a package ``__init__``): follow once.
        names, _ = self.bindings(path)
        out: list[Definition] = []
        for f, remote in names.get(name, []):
            out.extend(self.defs_in(f, remote, follow=follow - 1))
        return out

    def defs_named(self, path: str, name: str, imported: Imported) -> list[Definition]:
        """What ``name`` refers to in ``path`` (whose imports are ``imported``): the imported
        definitions when the file imports it, else its own top-level definitions."""
        if name in imported:
            return [d for f, r in imported[name] for d in self.defs_in(f, r)]
        return self.defs_in(path, name, follow=0)

    def header(self, path: str, symbol: Symbol) -> str:
        """The whole header of a definition: its stored signature, or, where that was cut
        (a long parameter list), the source lines up to the one that ends the header, so a
        return annotation after many parameters is seen."""
        if len(symbol.signature) < MAX_SIGNATURE_CHARS and not symbol.signature.endswith("..."):
            return symbol.signature
        lines = self.source.lines(path)
        if lines is None:
            return symbol.signature
        header = []
        for line in lines[symbol.start_line : symbol.start_line + MAX_HEADER_LINES]:
            header.append(line)
            if line.rstrip().endswith((":", "{")) and len(header) > 1:
                break
        return "\n".join(header)

    def receiver_classes(
        self,
        q: CursorQuery,
        c: Cursor,
        variable: str,
        imported: Imported,
        *,
        guess: bool = True,
    ) -> list[Definition]:
        """The class of ``variable`` before ``variable.``, read off the code above the cursor:
        the annotated return type of the function whose result it was assigned (see
        :meth:`returned_class`), an annotation (``request: Request``), a construction
        (``client = httpx.Client(...)``, ``with Client() as client``) or, failing those, a
        class named like the variable (``response`` -> ``Response``). Empty when unknown or
        ambiguous; without ``guess`` the last (the name) is not tried."""
        name = self.returned_class(c, variable, imported)
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
            found_defs = [d for f, remote in imported[name] for d in self.defs_in(f, remote)]
        else:
            found_defs = self.index.definitions(name)
        classes = [
            (p, s)
            for p, s in found_defs
            if s.kind == "class"
            and not s.scope
            and family(self.index.entries[p].language) == family(q.language)
        ]
        if len({p for p, _ in classes}) > (1 if guessed else self.options.max_definers):
            return []
        return classes[: self.options.defs_per_name]

    def returned_class(self, c: Cursor, variable: str, imported: Imported) -> str | None:
        """The class ``variable`` holds when the code above assigns it a call's result and
        that function's definition annotates its return type (``result = await
        Runner.run(...)`` with ``async def run(...) -> RunResult``), or None."""
        assigned = re.compile(
            rf"\b{re.escape(variable)}\s*=\s*(?:await\s+)?"
            rf"(?:([A-Za-z_]\w*)\.)?([A-Za-z_]\w*)\s*\("
        )
        for i in range(c.line - 1, max(-1, c.line - 2 * self.options.near_above), -1):
            found = assigned.search(c.lines[i])
            if found:
                break
        else:
            return None
        owner, function = found.group(1), found.group(2)
        if owner is not None:
            classes = [
                d for f, r in imported.get(owner, []) for d in self.defs_in(f, r)
            ] or self.index.definitions(owner)
            scopes = {(p, s.name) for p, s in classes if s.kind == "class"}
            defs = [
                (p, s)
                for p, s in self.index.definitions(function)
                if (p, s.scope.rsplit(".", 1)[-1]) in scopes
            ]
        elif function in imported:
            defs = [d for f, r in imported[function] for d in self.defs_in(f, r)]
        else:
            defs = [(p, s) for p, s in self.index.definitions(function) if not s.scope]
        names = {
            m.group(1)
            for p, s in defs[: self.options.max_definers]
            if (m := _RETURNS_CLASS.search(self.header(p, s)))
        }
        return names.pop() if len(names) == 1 else None

    def with_bases(self, classes: list[Definition]) -> list[Definition]:
        """``classes`` and, after them, the repository classes they inherit from (one level):
        a member the user picks is often defined on a base (``RunResultStreaming`` gets
        ``to_input_list`` from ``RunResultBase``)."""
        out = list(classes)
        for path, cls in classes:
            bases = _BASES.search(cls.signature)
            if not bases:
                continue
            imported, _ = self.bindings(path)
            for base in _LEADING_NAME.findall(bases.group(1)):
                if not base[:1].isupper():
                    continue
                found = self.defs_named(path, base, imported)
                out.extend((p, s) for p, s in found[:1] if s.kind == "class" and (p, s) not in out)
        return out

    def exports(self, module: str, depth: int = 2) -> list[Definition]:
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
                            for where, symbol in self.defs_in(target, remote, follow=0):
                                if is_public_api(symbol):
                                    found.setdefault((where, symbol.start_line), (where, symbol))

        visit(module, depth)
        return list(found.values())


def _stem(path: str) -> str:
    """The module name ``path`` stands for (its folder's for a package or index file)."""
    name = path.rsplit("/", 1)[-1]
    if name.startswith(("__init__.", "index.")) or name == "mod.rs":
        parent = path.rsplit("/", 2)
        return parent[-2] if len(parent) >= 2 else name
    return name.split(".", 1)[0]
