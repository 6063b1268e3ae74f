"""The workspace index: every indexed file's symbols, references, imports and identifiers, in
memory, persisted by :mod:`codeslm.context.store` and updated incrementally.

Contracts:

- :meth:`WorkspaceIndex.open` loads the on-disk cache without touching the files (fast);
  :meth:`WorkspaceIndex.refresh` walks the tree and re-parses only files whose content hash
  changed (in worker processes when there are many).
- :meth:`WorkspaceIndex.set_text` replaces one file's entry from a buffer (incremental
  tree-sitter parse when the previous tree is known); only that file's symbols and edges change.
- Secrets never enter it: secret file names and private keys are skipped by the walker, and
  secret-looking literals are redacted from stored signatures.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ContextConfig
from ..documents import language_for
from ..errors import InputError
from ..fileio import read_limited
from . import imports as imports_mod
from .imports import PathLookup
from .incremental import BufferAnalysis
from .records import FileEntry, Job, Outcome, analyse_all, build_record, make_entry
from .store import FileRow, IndexStore, content_hash, database_path
from .tags import Symbol
from .walker import classify_content, walk

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]

# Below this many files to parse, worker processes cost more than they save.
PARALLEL_THRESHOLD = 48


@dataclass(slots=True)
class IndexReport:
    """What a refresh did, for ``codeslm index``."""

    files: int = 0
    parsed: int = 0
    reused: int = 0
    removed: int = 0
    symbols: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    ignored: int = 0
    truncated: bool = False  # the workspace has more than context.max_files files
    seconds: float = 0.0


class WorkspaceIndex:
    """In-memory index of one workspace root, backed by its SQLite cache."""

    def __init__(self, root: Path, config: ContextConfig, *, store: IndexStore | None = None,
                 db_path: Path | None = None) -> None:
        self.root = root.resolve()
        self.config = config
        self.store = store if store is not None else IndexStore(db_path or database_path(root))
        self.entries: dict[str, FileEntry] = {}
        self.defs: dict[str, dict[str, list[Symbol]]] = {}  # name -> path -> definitions
        self.postings: dict[str, str | set[str]] = {}
        self.lookup = PathLookup(())
        self.overlays: dict[str, str] = {}  # relpath -> text of entries from open buffers
        self._imports: dict[str, tuple[str, int, dict[str, list[str]]]] = {}
        self.lock = threading.RLock()  # held while the maps or the database change
        self.version = 0  # bumps on every change
        self.defs_version = 0  # bumps only when the set of definitions changes
        self._disk_rows: dict[str, FileRow] = {}

    # -- loading and refreshing ---------------------------------------------------------------

    @classmethod
    def open(cls, root: Path, config: ContextConfig, *, db_path: Path | None = None,
             ) -> WorkspaceIndex:
        """Load the cached index of ``root`` (no file is read; call :meth:`refresh` for that)."""
        index = cls(root, config, db_path=db_path)
        index.load()
        return index

    def load(self) -> int:
        """(Re)load every entry from the database; returns the number of files."""
        self.entries.clear()
        self.defs.clear()
        self.postings.clear()
        self.lookup = PathLookup(())
        for row, record in self.store.records():
            self._add(make_entry(row, record))
            self._disk_rows[row.path] = row
        self.version += 1
        self.defs_version += 1
        return len(self.entries)

    def refresh(self, *, progress: ProgressFn | None = None, workers: int | None = None,
                ) -> IndexReport:
        """Bring the index up to date with the files on disk (changed files only).

        Walking and parsing run without :attr:`lock`; the database write and the in-memory
        update take it once at the end, so readers in other threads wait only for that.
        """
        started = time.perf_counter()
        report = IndexReport()
        walked = walk(self.root, max_bytes=self.config.max_file_bytes,
                      secret_patterns=self.config.secret_patterns,
                      extra_ignore=self.config.extra_ignore, max_files=self.config.max_files)
        report.skipped.update(walked.skipped)
        report.ignored = walked.ignored
        report.truncated = walked.truncated
        with self.lock:
            known_rows = self.store.files()
            known_hashes = self.store.known_hashes()
        jobs: list[Job] = []
        done = 0
        walked_paths = set()
        for cand in walked.files:
            walked_paths.add(cand.relpath)
            old = known_rows.get(cand.relpath)
            language = language_for(cand.relpath)
            if old is not None and old.size == cand.size and old.mtime_ns == cand.mtime_ns \
                    and old.language == language:
                done += 1
                continue
            jobs.append((str(self.root / cand.relpath), cand.relpath, language, cand.mtime_ns))
        total = len(walked.files)
        if progress:
            progress(done, total)
        outcomes: list[Outcome] = []
        for outcome in analyse_all(jobs, known_hashes, workers=workers,
                                   parallel_threshold=PARALLEL_THRESHOLD):
            if outcome[2] is None:
                report.skipped[outcome[0]] = outcome[1]
            outcomes.append(outcome)
            done += 1
            if progress:
                progress(done, total)
        removed = [p for p in known_rows if p not in walked_paths]
        removed += [o[0] for o in outcomes if o[2] is None and o[0] in known_rows]
        with self.lock:
            self._apply(outcomes, removed)
            report.files = len(self.entries)
            report.symbols = sum(len(e.symbols) for e in self.entries.values())
            for entry in self.entries.values():
                name = entry.language or "text"
                report.languages[name] = report.languages.get(name, 0) + 1
        report.parsed = sum(1 for o in outcomes if o[1] == "parsed")
        report.reused = report.files - report.parsed
        report.removed = len(removed)
        report.seconds = time.perf_counter() - started
        return report

    def _apply(self, outcomes: list[Outcome], removed: list[str]) -> None:
        """Write a refresh's results to the database and the in-memory maps."""
        full = not self.entries
        with self.store.transaction() as db:
            for _relpath, _outcome, row, record_json in outcomes:
                if row is not None:
                    IndexStore.put_json(db, row, record_json)
            IndexStore.delete(db, removed)
        self.store.collect_garbage()
        self.store.touch(self.root)
        if full:
            self.load()  # first build: one bulk load is faster than many updates
            return
        for path in removed:
            self._remove(path)
            self._disk_rows.pop(path, None)
        for relpath, _outcome, row, record_json in outcomes:
            if row is None:
                continue
            record = json.loads(record_json) if record_json else self.store.record(
                row.hash, row.language)
            if record is None:
                continue
            current = self.entries.get(relpath)
            self._disk_rows[relpath] = row
            if current is not None and current.overlay:
                continue  # an open buffer wins over the disk
            self._remove(relpath)
            self._add(make_entry(row, record))
        self.version += 1
        self.defs_version += 1

    # -- incremental updates ------------------------------------------------------------------

    def set_text(self, relpath: str, text: str, *, tree: Any = None, overlay: bool = True,
                 analysis: BufferAnalysis | None = None) -> FileEntry:
        """Index ``text`` as the content of ``relpath`` (an open buffer or a saved file).

        Buffers (``overlay=True``) live in memory only; saved content is also persisted.
        ``tree`` is an up-to-date tree-sitter tree of ``text`` (reuses an incremental parse)
        and ``analysis`` its incremental analysis when the caller has one (an open buffer).
        """
        data = text.encode("utf-8")
        language = language_for(relpath)
        digest = content_hash(data)
        current = self.entries.get(relpath)
        if current is not None and current.hash == digest and current.overlay == overlay:
            return current
        mtime = 0
        if not overlay:
            try:
                mtime = (self.root / relpath).stat().st_mtime_ns
            except OSError:
                mtime = 0
        row = FileRow(relpath, digest, len(data), mtime, language)
        record = None
        if analysis is not None and overlay:
            # An open buffer: straight from the incremental analysis (nothing is persisted).
            entry = FileEntry(relpath, language, digest, len(data), 0, analysis.tags.symbols,
                              analysis.tags.references, analysis.imports,
                              tuple(sorted(analysis.tokens)), text.count("\n") + 1, True)
        else:
            if tree is None:
                record = self.store.record(digest, language)
            if record is None:
                record = build_record(data, language, tree=tree,
                                      extracted=analysis.tags if analysis else None)
            entry = make_entry(row, record, overlay=overlay)
        if current is not None:
            # An edit changes few identifiers: touch only their postings.
            old_tokens, new_tokens = set(current.tokens), set(entry.tokens)
            self._remove(relpath, tokens=old_tokens - new_tokens)
            self._add(entry, tokens=new_tokens - old_tokens)
        else:
            self._add(entry)
        if overlay:
            self.overlays[relpath] = text
        if current is None or {s.name for s in current.symbols} != {s.name for s in entry.symbols}:
            self.defs_version += 1
        if not overlay and record is not None:
            with self.store.transaction() as db:
                IndexStore.put(db, row, record)
            self._disk_rows[relpath] = row
        self.version += 1
        return entry

    def update_from_disk(self, relpath: str) -> FileEntry | None:
        """Re-read one file after a change on disk (or forget it if it is gone or unusable)."""
        path = self.root / relpath
        try:
            data = read_limited(path, self.config.max_file_bytes)
        except InputError:  # gone, too large, or no longer a regular file
            self.remove(relpath)
            return None
        if classify_content(data) is not None:
            self.remove(relpath)
            return None
        return self.set_text(relpath, data.decode("utf-8"), overlay=False)

    def remove(self, relpath: str) -> None:
        """Forget a file (deleted, or newly ignored)."""
        if self._remove(relpath):
            with self.store.transaction() as db:
                IndexStore.delete(db, [relpath])
            self._disk_rows.pop(relpath, None)
            self.version += 1
            self.defs_version += 1

    def revert_overlay(self, relpath: str) -> None:
        """Drop a buffer's content and go back to the indexed file on disk."""
        entry = self.entries.get(relpath)
        if entry is None or not entry.overlay:
            return
        self._remove(relpath)
        row = self._disk_rows.get(relpath)
        record = self.store.record(row.hash, row.language) if row is not None else None
        if row is not None and record is not None:
            self._add(make_entry(row, record))
        self.version += 1
        self.defs_version += 1

    # -- in-memory maps -----------------------------------------------------------------------

    def _add(self, entry: FileEntry, *, tokens: Iterable[str] | None = None) -> None:
        """Add ``entry`` to the maps (``tokens``: only these need new postings)."""
        self.entries[entry.path] = entry
        self.lookup.add(entry.path)
        for symbol in entry.symbols:
            by_path = self.defs.get(symbol.name)
            if by_path is None:
                self.defs[symbol.name] = {entry.path: [symbol]}
            else:
                by_path.setdefault(entry.path, []).append(symbol)
        postings = self.postings
        path = entry.path
        for token in entry.tokens if tokens is None else tokens:
            # A token in one file maps to the path itself; a set only from the second file on
            # (most identifiers occur in a single file, and a set per token costs ~200 bytes).
            bucket = postings.get(token)
            if bucket is None:
                postings[token] = path
            elif isinstance(bucket, str):
                if bucket != path:
                    postings[token] = {bucket, path}
            else:
                bucket.add(path)

    def _remove(self, relpath: str, *, tokens: Iterable[str] | None = None) -> bool:
        """Remove a file from the maps (``tokens``: only these lose their posting)."""
        self.overlays.pop(relpath, None)
        entry = self.entries.pop(relpath, None)
        if entry is None:
            return False
        self.lookup.discard(relpath)
        for name in {s.name for s in entry.symbols}:
            by_path = self.defs.get(name)
            if by_path is not None:
                by_path.pop(relpath, None)
                if not by_path:
                    del self.defs[name]
        postings = self.postings
        for token in entry.tokens if tokens is None else tokens:
            bucket = postings.get(token)
            if bucket is None:
                continue
            if isinstance(bucket, str):
                if bucket == relpath:
                    del postings[token]
            else:
                bucket.discard(relpath)
                if len(bucket) == 1:
                    postings[token] = next(iter(bucket))
        return True

    # -- queries ------------------------------------------------------------------------------

    def relpath(self, path: str | Path) -> str | None:
        """``path`` relative to the root (``/``-separated), or None when outside it."""
        p = Path(path)
        if not p.is_absolute():
            p = Path.cwd() / p
        try:
            return p.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    def resolve_imports(self, relpath: str) -> dict[str, list[str]]:
        """Module text -> workspace files, for each import of ``relpath`` (cached until the
        file or the set of files changes)."""
        entry = self.entries.get(relpath)
        if entry is None:
            return {}
        cached = self._imports.get(relpath)
        if cached is not None and cached[0] == entry.hash and cached[1] == self.lookup.version:
            return cached[2]
        result = {imp.module: imports_mod.resolve(imp, relpath, entry.language, self.lookup)
                  for imp in entry.imports}
        self._imports[relpath] = (entry.hash, self.lookup.version, result)
        return result

    def outside_modules(self, relpath: str) -> set[str]:
        """Local names of the modules ``relpath`` imports from outside the workspace
        (``import asyncio``, ``from importlib import metadata``)."""
        entry = self.entries.get(relpath)
        if entry is None:
            return set()
        resolved = self.resolve_imports(relpath)
        out: set[str] = set()
        for imp in entry.imports:
            if resolved.get(imp.module):
                continue
            if imp.alias:
                out.add(imp.alias)
            out.update(local for _, local in imp.names)
        return out

    def files_with(self, token: str) -> tuple[str] | set[str]:
        """Paths of the files that contain the identifier ``token``."""
        bucket = self.postings.get(token)
        if bucket is None:
            return set()
        return (bucket,) if isinstance(bucket, str) else bucket

    def definitions(self, name: str) -> list[tuple[str, Symbol]]:
        """Every definition of ``name`` as ``(path, symbol)``."""
        by_path = self.defs.get(name)
        if not by_path:
            return []
        return [(path, symbol) for path, symbols in by_path.items() for symbol in symbols]

    def close(self) -> None:
        """Close the database."""
        self.store.close()

    def __len__(self) -> int:
        return len(self.entries)
