"""The builder's parts on the sample repository: each candidate source on its own, the builder
listing their candidates in order, and the resolver following imports."""

from __future__ import annotations

from pathlib import Path

from codeslm.config import Config
from codeslm.context import WorkspaceProvider
from codeslm.context.request import Cursor, CursorQuery, Request
from codeslm.context.sources.definitions import DefinitionSource
from codeslm.context.sources.scope import ScopeSource
from codeslm.context.sources.similar import SimilarSource


def _query(repo: Path, rel: str, anchor: str, window: int = 0) -> CursorQuery:
    text = (repo / rel).read_text(encoding="utf-8")
    offset = text.index(anchor) + len(anchor)
    start = max(0, offset - window) if window else 0
    end = offset + 20 if window else len(text)
    return CursorQuery(rel, "python", text, offset, start, end)


def test_the_cursor_reads_lines_and_the_window() -> None:
    text = "a = 1\nb = 2\nc = b + a\n"
    q = CursorQuery("x.py", "python", text, text.index("b + "), text.index("b = "), len(text))
    c = Cursor.of(q)
    assert (c.line, c.column, c.win_first, c.win_last) == (2, 4, 1, 2)
    assert c.before() == "c = " and c.text_above(1) == "b = 2\nc = "
    assert "def" in c.keywords


def test_each_source_gives_its_own_kind_and_the_builder_lists_them_in_order(
    repo: Path, config: Config
) -> None:
    provider = WorkspaceProvider.open(repo, config)
    try:
        builder = provider.builder
        # A short window low in models.py: ``class User`` scrolled out above the cursor.
        q = _query(repo, "pkg/models.py", "return self.email.strip()", window=60)
        request = Request(q, Cursor.of(q), builder.prior(q.path, {}), {})
        kinds = {}
        for source in builder.sources:
            kinds[type(source)] = {s.source for s in source.candidates(request)}
        assert kinds[ScopeSource] == {"scope"}
        assert kinds[DefinitionSource] <= {"definition"}
        assert kinds[SimilarSource] <= {"similar"}
        (scope,) = ScopeSource(provider.index, provider).candidates(request)
        assert scope.text == "class User:"  # the method's own header is in the window
        expected = [s for source in builder.sources for s in source.candidates(request)]
        assert builder.candidates(q, {}) == expected
    finally:
        provider.close()


def test_the_resolver_follows_imports_and_package_reexports(repo: Path, config: Config) -> None:
    provider = WorkspaceProvider.open(repo, config)
    try:
        resolver = provider.builder.resolver
        imported, modules = resolver.bindings("pkg/service.py")
        assert ("pkg/models.py", "make_user") in imported["make_user"]
        assert modules["storage"] == ["pkg/storage.py"]
        (path, symbol), *_ = resolver.defs_named("pkg/service.py", "User", imported)
        assert (path, symbol.name, symbol.kind) == ("pkg/models.py", "User", "class")
        # ``pkg/__init__.py`` re-exports ``make_user``: followed once to its definition.
        assert [(p, s.name) for p, s in resolver.defs_in("pkg/__init__.py", "make_user")] == [
            ("pkg/models.py", "make_user")
        ]
    finally:
        provider.close()
