"""What may follow ``receiver.`` at the cursor in Python code: the whole member set of the
receiver, resolved over the workspace, or nothing when the source does not tell all of it.

The receiver is a module (its own names, star imports and submodules), a class, or a variable
whose class the code above tells (the :class:`~codeslm.context.resolve.Resolver` reads it off);
a class's set includes its bases', from the repository or well-known libraries
(:mod:`.members` reads each class's own names from its source).
"""

from __future__ import annotations

import re
from collections.abc import Set

from . import members
from .request import Cursor, CursorQuery
from .resolve import Imported, Resolver, member_at_cursor
from .secrets import strip_strings
from .tags import Symbol

OWN_MEMBERS_CACHE = 256  # classes whose own member names are kept


class ReceiverMembers:
    """Member sets over one :class:`Resolver`; see the module docstring."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        # (path, content hash, class line) -> the names the class binds itself (or None)
        self._own_members: dict[tuple[str, str, int], set[str] | None] = {}

    def at_cursor(self, query: CursorQuery) -> tuple[str, ...]:
        """When the cursor follows ``receiver.`` (and the start of a name) in Python code, what
        may follow: the rest of every member name that receiver has, if the source tells the
        whole set (see :mod:`.members`); empty when it cannot (unknown receiver, ``self``,
        a base from outside, a string or comment, code right after the cursor). In ``infile``
        scope only the current file is read."""
        if query.language != "python":
            return ()
        text, offset = query.text, query.offset
        before = text[text.rfind("\n", 0, offset) + 1 : offset]
        m = member_at_cursor(before)
        after = text[offset : offset + 1]
        if m is None or after.isidentifier() or after.isdigit():
            return ()  # not after ``receiver.``, or inside a name being edited
        c = Cursor.of(query)
        receiver, partial = m.group(1), m.group(2) or ""
        lead = before[: m.start(1)].rstrip()
        if (
            lead.endswith(".")
            or receiver in {"self", "cls"}
            or receiver in c.keywords
            or "#" in strip_strings(before)
            or before.count('"') % 2
            or before.count("'") % 2
        ):
            return ()
        imported, modules = self.resolver.bindings(query.path)
        names: Set[str] | None = None
        if receiver in modules:
            names = self._module_members(modules[receiver], query)
        else:
            found = self.resolver.defs_named(query.path, receiver, imported)
            classes = [d for d in found if d[1].kind == "class"]
            if receiver in imported and len(found) != len(classes):
                return ()  # a function or constant: its type is not known here
            if not classes and receiver not in imported:  # a variable: its class, if told
                classes = self.resolver.receiver_classes(query, c, receiver, imported, guess=False)
                if len(classes) == 1 and not self._bound_as(
                    c, receiver, classes[0][1].name, imported
                ):
                    return ()
            if len(classes) == 1:
                names = self._class_members(*classes[0], query, depth=4, seen={})
        if not names:
            return ()
        return members.remainders(names, partial)

    def _bound_as(self, c: Cursor, variable: str, class_name: str, imported: Imported) -> bool:
        """Whether the nearest line above the cursor that binds ``variable`` (an assignment, a
        parameter, ``as``, ``for``) gives it ``class_name``: by naming the class, or by calling
        a function annotated to return it. A rebinding since the evidence was seen (``x =
        other()``) makes the class unknown."""
        v = re.escape(variable)
        binds = re.compile(
            rf"(?<![\w.]){v}\s*(?::[^=\n]*)?=(?!=)|\b(?:as|for)\s+{v}\b"
            rf"|(?<![\w.]){v}\s*:\s*[A-Za-z_'\"]"
        )
        for i in range(c.line - 1, max(-1, c.line - 2 * self.resolver.options.near_above), -1):
            line = c.lines[i]
            if binds.search(line):
                return (
                    re.search(rf"\b{re.escape(class_name)}\b", line) is not None
                    or self.resolver.returned_class(c, variable, imported) == class_name
                )
        return False

    def _class_members(
        self,
        path: str,
        cls: Symbol,
        query: CursorQuery,
        depth: int,
        seen: dict[tuple[str, int], Set[str] | None],
    ) -> Set[str] | None:
        """Every member of ``cls`` (bases included), or None when not all are known. ``seen``
        holds the classes already read in this lookup (a diamond of bases is read once)."""
        key = (path, cls.start_line)
        if key in seen:
            return seen[key]
        seen[key] = None  # a cycle of bases is not a known set
        if query.scope != "repo" and path != query.path:
            return None
        entry = self.resolver.index.entries.get(path)
        if entry is None or depth < 0:
            return None
        cached = (path, entry.hash, cls.start_line)
        if cached not in self._own_members:
            lines = self.resolver.source.lines(path)
            if lines is None:
                return None
            if len(self._own_members) >= OWN_MEMBERS_CACHE:
                self._own_members.clear()
            self._own_members[cached] = members.class_own_members(lines, cls, entry.symbols)
        own = self._own_members[cached]
        bases = members.class_bases(self.resolver.header(path, cls))
        if own is None or bases is None:
            return None
        names = own | members.OBJECT_MEMBERS
        imported, _ = self.resolver.bindings(path)
        for base in bases:
            found = [
                d for d in self.resolver.defs_named(path, base, imported) if d[1].kind == "class"
            ]
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

    def _module_members(
        self, files: list[str], query: CursorQuery, depth: int = 2
    ) -> set[str] | None:
        """Every name the module ``files`` offer (its submodules and star imports included),
        or None when not all are known."""
        names: set[str] = set()
        for path in files:
            entry = self.resolver.index.entries.get(path)
            lines = self.resolver.source.lines(path)
            if entry is None or lines is None or (query.scope != "repo" and path != query.path):
                return None
            bound = [local for imp in entry.imports for _, local in imp.names]
            bound += [imp.alias for imp in entry.imports if imp.alias]
            own = members.module_own_members(lines, entry.symbols, bound)
            if own is None:
                return None
            names |= own
            resolved = self.resolver.index.resolve_imports(path)
            for module in members.star_imports(lines):
                targets = resolved.get(module, [])
                inner = (
                    self._module_members(targets, query, depth - 1)
                    if targets and depth > 0
                    else None
                )
                if inner is None:
                    return None
                names |= inner
            if path.rsplit("/", 1)[-1] == "__init__.py":
                folder = path[: -len("__init__.py")]
                names.update(
                    p[len(folder) :].split("/", 1)[0].removesuffix(".py")
                    for p in self.resolver.index.entries
                    if p.startswith(folder)
                )
        return names
