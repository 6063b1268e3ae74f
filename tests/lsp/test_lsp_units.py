"""In-process unit tests of the server's seams: a backend dying mid-stream, context routing per
workspace root, rebuilding the backend when settings change. Fast; the same paths run through
the real process in the other test files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeslm.lsp import actions, completions
from codeslm.lsp.context import WorkspaceContext
from codeslm.lsp.handlers import create_server
from lsprotocol import types as lsp

from codeslm.backends.fake import FakeBackend
from codeslm.config import Config
from codeslm.context.port import CrossFileContext
from codeslm.types import Document, Position


def _server(backend: FakeBackend) -> Any:
    server = create_server({}, backend_factory=lambda config: backend)
    server.protocol.client_capabilities = lsp.ClientCapabilities()
    return server


async def test_backend_dying_mid_stream_costs_one_completion() -> None:
    backend = FakeBackend("return a + b  # and more words here\n", fail_after_chunks=2)
    server = _server(backend)
    doc = Document("def add(a, b):\n    \n", "/w/a.py", "python")
    result = await completions.complete(server, "k", doc, Position(1, 4), automatic=False, n=1)
    assert result == []
    assert server.scheduler.stats.errors == 1
    assert server.status.state == "error" and "mid-stream" in server.status.message
    backend.fail_after_chunks = None  # the backend recovers: so does the server
    again = await completions.complete(server, "k", doc, Position(1, 4), automatic=False, n=1)
    assert again and again[0].text.startswith("return a + b")


async def test_refactor_with_a_dying_backend_applies_nothing(tmp_path: Path) -> None:
    backend = FakeBackend('```python\ndef f():\n    """Doc."""\n```', fail_after_chunks=1)
    server = _server(backend)
    uri = (tmp_path / "a.py").as_uri()
    server.documents.open(lsp.TextDocumentItem(uri=uri, language_id="python", version=3,
                                               text="def f():\n    return 1\n"))
    args = {"uri": uri, "version": 3,
            "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}}}
    result = await actions.run_command(server, "codeslm.docstring", (args,))
    assert result["applied"] is False and result["reason"] == "backend"
    doc = server.documents.get(uri)
    assert doc is not None and doc.text == "def f():\n    return 1\n"


class Recorder:
    def __init__(self, root: str) -> None:
        self.root = root
        self.updates: list[str] = []
        self.removed: list[str] = []

    def update_document(self, path: str, text: str) -> None:
        self.updates.append(path)

    def remove_document(self, path: str) -> None:
        self.removed.append(path)

    def context_for(self, document: Document, offset: int, **_: Any) -> CrossFileContext:
        return CrossFileContext(repo_name=self.root)


def test_context_routes_to_the_innermost_root() -> None:
    made: dict[str, Recorder] = {}

    def factory(root: str, config: Config) -> Recorder:
        made[root] = Recorder(root)
        return made[root]

    context = WorkspaceContext(factory)
    context.set_roots(["/w", "/w/sub", "/other"], Config())
    context.update("/w/sub/x.py", "x")
    context.update("/w/y.py", "y")
    context.update("/elsewhere/z.py", "z")
    context.remove("/other/gone.py")
    assert made["/w/sub"].updates == ["/w/sub/x.py"]
    assert made["/w"].updates == ["/w/y.py"]
    assert made["/other"].removed == ["/other/gone.py"]
    result = context.context_for(Document("", "/w/sub/x.py"), 0, budget_tokens=10,
                                 count_tokens=len)
    assert result.repo_name == "/w/sub"
    context.set_roots(["/w"], Config())
    assert context.roots == ["/w"]


def test_a_broken_provider_never_breaks_completion() -> None:
    class Broken:
        def context_for(self, *args: Any, **kwargs: Any) -> CrossFileContext:
            raise RuntimeError("index corrupted")

        def update_document(self, path: str, text: str) -> None:
            raise RuntimeError("disk full")

    context = WorkspaceContext(lambda root, config: Broken())
    context.set_roots(["/w"], Config())
    context.update("/w/a.py", "x")  # logged, not raised
    assert context.context_for(Document("", "/w/a.py"), 0, budget_tokens=1,
                               count_tokens=len) == CrossFileContext()


def test_settings_rebuild_the_backend_only_when_needed() -> None:
    built: list[Config] = []

    def factory(config: Config) -> FakeBackend:
        built.append(config)
        return FakeBackend("x")

    server = create_server({}, backend_factory=factory)
    services = server.services
    first_engine = services.engine
    assert len(built) == 1
    services.reconfigure(editor={"lsp.debounce_ms": 10})
    assert services.engine is not first_engine and len(built) == 1  # same backend
    assert services.config.lsp.debounce_ms == 10
    services.reconfigure(editor={"model": "qwen2.5-coder-0.5b"})
    _ = services.engine
    assert len(built) == 2 and built[-1].model == "qwen2.5-coder-0.5b"


def test_item_range_follows_a_core_replacement_on_the_cursor_line() -> None:
    from codeslm.lsp.completions import Target, _replaced_end
    from codeslm.lsp.convert import LineIndex
    from codeslm.lsp.documents import OpenDocument

    from codeslm.types import Completion, CompletionMode, Range

    text = "x = f(😀)\n"
    doc = OpenDocument("file:///a.py", 1, "python", text, "/a.py", "python")
    index = LineIndex(text)
    target = Target(doc, index, doc.core(), Position(0, 7), 7)  # after the emoji
    cursor = lsp.Position(line=0, character=8)  # the same place in UTF-16 units
    insert = Completion("x", Range(Position(0, 7), Position(0, 7)), CompletionMode.SINGLE_LINE)
    assert _replaced_end(target, insert, cursor) == cursor
    # Replacing the ")" after the cursor: the item's range ends after it.
    replace = Completion("x)", Range(Position(0, 7), Position(0, 8)), CompletionMode.SINGLE_LINE)
    assert _replaced_end(target, replace, cursor) == lsp.Position(line=0, character=9)
    other_line = Completion("x", Range(Position(0, 7), Position(1, 0)), CompletionMode.MULTI_LINE)
    assert _replaced_end(target, other_line, cursor) == cursor


def test_the_same_settings_again_keep_the_engine_and_its_caches() -> None:
    server = create_server({}, backend_factory=lambda config: FakeBackend("x"))
    services = server.services
    services.reconfigure(editor={"lsp.debounce_ms": 10})
    engine = services.engine
    assert services.reconfigure(editor={"lsp.debounce_ms": 10}) == []
    assert services.engine is engine


async def test_suggestions_while_typing_come_from_the_fast_model() -> None:
    """``completion.fast_model``: the server answers automatic requests from a second backend
    serving that model, and explicit ones from ``model``."""
    built: dict[str, FakeBackend] = {}

    def factory(config: Config) -> FakeBackend:
        built.setdefault(config.model, FakeBackend(f"'{config.model}'"))
        return built[config.model]

    server = create_server({"model": "big"}, backend_factory=factory)
    server.protocol.client_capabilities = lsp.ClientCapabilities()
    server.services.reconfigure(editor={"completion.fast_model": "small"})
    assert await server.services.warm_up() and sorted(built) == ["big", "small"]  # both load
    doc = Document("def name():\n    return \n", "/w/a.py", "python")
    typing = await completions.complete(server, "k", doc, Position(1, 11), automatic=True, n=1)
    assert [c.text for c in typing] == ["'small'"]
    asked = await completions.complete(server, "k", doc, Position(1, 11), automatic=False, n=1)
    assert [c.text for c in asked] == ["'big'"]
    assert len(built["small"].requests) == 1 and len(built["big"].requests) == 1
