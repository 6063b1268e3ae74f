"""The context provider the engine, the CLI and the language server use for one workspace root.

:class:`WorkspaceProvider` implements :class:`~codeslm.context.port.ContextProvider` and
its :class:`~codeslm.context.port.DocumentEvents`. It keeps:

- the :class:`~codeslm.context.index.WorkspaceIndex` (loaded from its SQLite cache, refreshed
  on demand or in a background thread);
- open buffers (``update_document``): re-parsed incrementally with tree-sitter and indexed in
  memory only, so unsaved edits count without touching the cache;
- recency of edits and opens, a ranking signal;
- per-document *sticky* context (:mod:`.sticky`): while the cursor stays in one region of a
  document, exactly the same cross-file blocks are returned, so consecutive prompts share
  everything but their tail and the backend's prefix (KV) cache stays hot. The blocks come
  before the current file, so any change to them (even one block appended) would cost the
  whole prefix again; they are chosen afresh only when the cursor leaves the region or a
  source changes.

Every snippet text passes the secret redaction gate before it leaves this module.

Thread safety: every public method takes one lock, so a background refresh can run while the
language server asks for context.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..documents import language_for
from ..errors import ConfigError, InputError
from ..fileio import read_limited
from ..types import Document
from . import secrets, tags
from .builder import BuilderOptions, ContextBuilder, CursorQuery
from .incremental import IncrementalAnalyzer, edit_span, point_of
from .index import IndexReport, ProgressFn, WorkspaceIndex
from .port import CrossFileContext, TokenCounter, window
from .snippets import Snippet
from .sticky import StickyBlocks, layout

log = logging.getLogger(__name__)

RECENCY_HALF_LIFE_S = 600.0


@dataclass(slots=True)
class _Buffer:
    text: str
    data: bytes
    tree: Any = None
    on_disk: bool = False  # the text equals the file on disk
    analyzer: IncrementalAnalyzer | None = None


@dataclass(slots=True)
class LastContext:
    """What the provider returned last (for evaluation and diagnostics)."""

    snippets: list[Snippet] = field(default_factory=list)
    reused: bool = False
    seconds: float = 0.0
    member_names: tuple[str, ...] = ()


class WorkspaceProvider:
    """Cross-file context for documents under one root; see the module docstring.

    ``scope`` is ``repo`` (every indexed file) or ``infile`` (only the current file, for
    comparisons). With ``auto_sync`` the document passed to :meth:`context_for` is indexed as
    an open buffer first; evaluations turn it off to control exactly what the index holds.
    """

    def __init__(self, index: WorkspaceIndex, config: Config, *, scope: str = "repo",
                 auto_sync: bool = True, options: BuilderOptions | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if scope not in {"repo", "infile"}:
            raise ConfigError(f"unknown context scope {scope!r}", hint="use repo or infile")
        self.index = index
        self.config = config
        self.scope = scope
        self.auto_sync = auto_sync
        self.builder = ContextBuilder(index, self, options=options)
        self.last = LastContext()
        self._clock = clock
        self._lock = index.lock  # one lock for the index and this provider's state
        self._buffers: dict[str, _Buffer] = {}
        self._disk_lines: dict[str, tuple[int, int, str, list[str]]] = {}
        self._overlay_lines: dict[str, tuple[str, list[str]]] = {}
        self._recent: dict[str, float] = {}
        self._sticky = StickyBlocks(index, self)
        self._refresh_thread: threading.Thread | None = None
        try:
            self._redact_extra = secrets.compile_patterns(config.context.redact_patterns)
        except Exception as exc:  # re.error
            raise ConfigError(f"context.redact_patterns: invalid regex ({exc})") from None

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path, config: Config, *, refresh: str = "now",
             db_path: Path | None = None, **kwargs: Any) -> WorkspaceProvider:
        """A provider for ``root`` with its cached index loaded.

        ``refresh`` is ``now`` (bring the index up to date before returning), ``background``
        (a daemon thread does it; context is served from the cache meanwhile) or ``none``.
        """
        index = WorkspaceIndex.open(Path(root), config.context, db_path=db_path)
        provider = cls(index, config, **kwargs)
        if refresh == "now":
            provider.refresh()
        elif refresh == "background":
            provider.refresh_in_background()
        return provider

    def refresh(self, *, progress: ProgressFn | None = None,
                workers: int | None = None) -> IndexReport:
        """Re-index changed files on disk (open buffers keep their text)."""
        report = self.index.refresh(progress=progress, workers=workers)
        with self._lock:
            self._sticky.index_refreshed()
            for path, buffer in self._buffers.items():
                analysis = buffer.analyzer.analyse(buffer.data, buffer.tree) if (
                    buffer.analyzer is not None) else None
                self.index.set_text(path, buffer.text, tree=buffer.tree,
                                    overlay=not buffer.on_disk, analysis=analysis)
            self._disk_lines.clear()
            return report

    def refresh_in_background(self, *, freeze_heap: bool = False) -> threading.Thread:
        """Start :meth:`refresh` in a daemon thread (at most one at a time). With
        ``freeze_heap`` (a long-running server's own process) the objects alive after it
        are moved out of the cyclic garbage collector's reach (``gc.freeze``): the index is
        a large, long-lived heap that full collections would otherwise walk, a pause of
        about 150 ms on the CPython library in the middle of a request (benchmarks/
        RESULTS.md). Its objects hold no cycles; reference counting still frees them."""
        with self._lock:
            if self._refresh_thread is not None and self._refresh_thread.is_alive():
                return self._refresh_thread

            def run() -> None:
                try:
                    self.refresh()
                except Exception:  # the cached index keeps serving
                    log.exception("background index refresh of %s failed", self.index.root)
                if freeze_heap:
                    gc.collect()
                    gc.freeze()

            thread = threading.Thread(target=run, name="codeslm-index", daemon=True)
            self._refresh_thread = thread
            thread.start()
            return thread

    def close(self) -> None:
        """Release the database (waits for a background refresh to finish)."""
        thread = self._refresh_thread
        if thread is not None:
            thread.join()
        with self._lock:
            self.index.close()

    # -- editor events ---------------------------------------------------------------------

    def update_document(self, path: str | Path, text: str) -> None:
        """The current text of ``path`` (an open buffer, a save or a change on disk).

        Re-parses incrementally (tree-sitter edit + reparse of the previous tree) and replaces
        only this file's symbols and edges. Text equal to the file on disk is indexed as the
        file itself (and persisted); other text lives in memory until the buffer closes.
        Paths outside the root or refused by the index rules are ignored.
        """
        with self._lock:
            rel = self.index.relpath(path)
            if rel is None or not self._indexable(rel):
                return
            data = text.encode("utf-8")
            old = self._buffers.get(rel)
            if old is not None and old.data == data:
                return
            tree = self._reparse(rel, old, data)
            on_disk = self._disk_bytes(rel) == data
            analyzer = old.analyzer if old is not None and old.analyzer is not None else (
                IncrementalAnalyzer(language_for(rel)))
            analysis = analyzer.analyse(data, tree)
            self.index.set_text(rel, text, tree=tree, overlay=not on_disk, analysis=analysis)
            self._buffers[rel] = _Buffer(text, data, tree, on_disk, analyzer)
            self._recent[rel] = self._clock()

    def remove_document(self, path: str | Path) -> None:
        """The buffer of ``path`` closed, or the file was deleted: fall back to the disk."""
        with self._lock:
            rel = self.index.relpath(path)
            if rel is None:
                return
            self._buffers.pop(rel, None)
            self._sticky.forget(rel)
            self._disk_lines.pop(rel, None)
            self._overlay_lines.pop(rel, None)
            if (self.index.root / rel).is_file() and self._indexable(rel):
                self.index.update_from_disk(rel)
            else:
                self.index.remove(rel)

    def file_changed(self, path: str | Path) -> None:
        """A file changed on disk (watcher event); open buffers are not affected."""
        with self._lock:
            rel = self.index.relpath(path)
            if rel is None or rel in self._buffers:
                return
            self._disk_lines.pop(rel, None)
            if (self.index.root / rel).is_file() and self._indexable(rel):
                self.index.update_from_disk(rel)
            else:
                self.index.remove(rel)

    def forget_region(self, path: str | Path | None = None) -> None:
        """Drop the sticky context of ``path`` (of every document when None)."""
        with self._lock:
            if path is None:
                self._sticky.forget()
                return
            rel = self.index.relpath(path)
            if rel is not None:
                self._sticky.forget(rel)

    def note_opened(self, path: str | Path) -> None:
        """The user looked at ``path`` (raises its rank for a while)."""
        with self._lock:
            rel = self.index.relpath(path)
            if rel is not None:
                self._recent[rel] = self._clock()

    def _indexable(self, rel: str) -> bool:
        from .secrets import is_secret_path

        return not is_secret_path(rel, self.config.context.secret_patterns)

    def _disk_bytes(self, rel: str) -> bytes | None:
        try:
            return read_limited(self.index.root / rel, self.config.context.max_file_bytes)
        except InputError:
            return None

    def _reparse(self, rel: str, old: _Buffer | None, data: bytes) -> Any:
        """A tree of ``data``: the previous tree edited and reparsed when there is one."""
        language = language_for(rel)
        try:
            if old is None or old.tree is None:
                return tags.parse(data, language)
            start, old_end, new_end = edit_span(old.data, data)
            old.tree.edit(
                start_byte=start, old_end_byte=old_end, new_end_byte=new_end,
                start_point=point_of(old.data, start), old_end_point=point_of(old.data, old_end),
                new_end_point=point_of(data, new_end),
            )
            return tags.parse(data, language, old.tree)
        except (ValueError, TypeError) as exc:  # a grammar problem must not break editing
            log.info("incremental parse of %s failed (%s); parsing from scratch", rel, exc)
            return tags.parse(data, language)

    # -- line source (for the builder) -----------------------------------------------------

    def lines(self, path: str) -> list[str] | None:
        """The lines of ``path`` as the index knows it (buffer first, then the disk)."""
        found = self._source(path)
        return found[1] if found is not None else None

    def text(self, path: str) -> str | None:
        """The text of ``path`` as the index knows it (buffer first, then the disk)."""
        found = self._source(path)
        return found[0] if found is not None else None

    def _source(self, path: str) -> tuple[str, list[str]] | None:
        overlay = self.index.overlays.get(path)
        if overlay is not None:
            cached_overlay = self._overlay_lines.get(path)
            if cached_overlay is None or cached_overlay[0] is not overlay:
                cached_overlay = (overlay, overlay.split("\n"))
                self._overlay_lines[path] = cached_overlay
            return cached_overlay
        entry = self.index.entries.get(path)
        if entry is None:
            return None
        cached = self._disk_lines.get(path)
        if cached is not None and cached[0] == entry.size and cached[1] == entry.mtime_ns:
            return cached[2], cached[3]
        try:
            st = (self.index.root / path).stat()
            if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns) and entry.mtime_ns:
                # Changed on disk since it was indexed: re-index it first.
                entry = self.index.update_from_disk(path)
                if entry is None:
                    return None
            text = read_limited(self.index.root / path, self.config.context.max_file_bytes).decode(
                "utf-8", "replace")
        except (OSError, InputError):
            return None
        lines = text.split("\n")
        if len(self._disk_lines) > 256:
            self._disk_lines.clear()
        self._disk_lines[path] = (entry.size, entry.mtime_ns, text, lines)
        return text, lines

    # -- context ---------------------------------------------------------------------------

    def context_for(self, document: Document, offset: int, *, budget_tokens: int,
                    count_tokens: TokenCounter) -> CrossFileContext:
        """Cross-file blocks for a cursor at ``offset`` of ``document``, within the budget,
        laid out for prefix-cache reuse (see the module docstring). Never raises for an
        unknown language or a file outside the root: it returns fewer or no blocks."""
        started = time.perf_counter()
        with self._lock:
            rel = self.index.relpath(document.path) if document.path else None
            if rel is None:
                self.last = LastContext()
                return CrossFileContext()
            if self.auto_sync:
                self.update_document(document.path or rel, document.text)
            cfg = self.config.completion
            prefix, suffix = window(document.text, offset, cfg.prefix_chars, cfg.suffix_chars)
            query = CursorQuery(
                path=rel, language=document.language or language_for(rel), text=document.text,
                offset=offset, window_start=offset - len(prefix),
                window_end=offset + len(suffix), scope=self.scope,
            )
            now = self._clock()
            recent = {p: 0.5 ** ((now - t) / RECENCY_HALF_LIFE_S)
                      for p, t in self._recent.items()}
            candidates = self.builder.candidates(query, recent)
            segments, reused = self._sticky.choose(query, candidates, budget_tokens,
                                                   count_tokens)
            files = layout(segments, self._redact_extra)
            shown = [x for seg in segments for x in seg]
            names = self.builder.member_names(query) if \
                self.config.context.member_constraint else ()
            self.last = LastContext(shown, reused, time.perf_counter() - started, names)
            return CrossFileContext(files=files, repo_name=self.index.root.name, path=rel,
                                    member_names=names)


def provider_for_root(root: str | Path, config: Config) -> WorkspaceProvider:
    """The language server's factory: the cached index now, a refresh in the background."""
    provider = WorkspaceProvider.open(root, config, refresh="none")
    provider.refresh_in_background(freeze_heap=True)
    return provider


__all__ = ["LastContext", "WorkspaceProvider", "provider_for_root"]
