"""The on-disk index cache: one SQLite database per workspace root, keyed by content hash.

``files`` maps a relative path to the content hash, size and mtime it had when indexed;
``parsed`` maps a content hash (plus language) to the extracted record, so a restart reloads
instead of re-parsing, and a file whose mtime changed but whose content did not costs a hash.
The record is JSON (symbols, references, imports, similarity tokens). WAL mode lets the
language server and the CLI share a database.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import ContextError

log = logging.getLogger(__name__)

# Bump when the record format or the extraction changes: old databases are then rebuilt.
SCHEMA_VERSION = "4"


@dataclass(frozen=True, slots=True)
class FileRow:
    """What the database remembers about one indexed file."""

    path: str
    hash: str
    size: int
    mtime_ns: int
    language: str | None


def database_path(root: Path) -> Path:
    """Where the index of ``root`` lives (under the data directory, one file per root)."""
    root = root.resolve()
    digest = hashlib.blake2b(str(root).encode("utf-8"), digest_size=8).hexdigest()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in root.name)[:40] or "root"
    return paths.data_dir() / "index" / f"{safe}-{digest}.sqlite"


def content_hash(data: bytes) -> str:
    """The content key of a file."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class IndexStore:
    """A SQLite index database. All writes go through :meth:`transaction`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._init()
        except sqlite3.DatabaseError as exc:
            raise ContextError(
                f"the index database {path} cannot be used ({exc})",
                hint="delete it; `codeslm index` rebuilds it",
            ) from None

    def _init(self) -> None:
        db = self._db
        db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is not None and row[0] != SCHEMA_VERSION:
            log.info("index schema %s is stale (want %s); rebuilding", row[0], SCHEMA_VERSION)
            db.execute("DROP TABLE IF EXISTS files")
            db.execute("DROP TABLE IF EXISTS parsed")
        db.execute(
            "CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, hash TEXT NOT NULL, "
            "size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, language TEXT)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS parsed (hash TEXT NOT NULL, language TEXT NOT NULL, "
            "data BLOB NOT NULL, PRIMARY KEY (hash, language))"
        )
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        db.commit()

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed on success and rolled back on error."""
        try:
            with self._db:
                yield self._db
        except sqlite3.DatabaseError as exc:
            raise ContextError(f"writing the index {self.path} failed ({exc})") from None

    def files(self) -> dict[str, FileRow]:
        """Every indexed file by relative path."""
        rows = self._db.execute("SELECT path, hash, size, mtime_ns, language FROM files")
        return {r[0]: FileRow(r[0], r[1], r[2], r[3], r[4]) for r in rows}

    def records(self) -> Iterator[tuple[FileRow, dict[str, Any]]]:
        """Every indexed file with its decoded record."""
        rows = self._db.execute(
            "SELECT f.path, f.hash, f.size, f.mtime_ns, f.language, p.data FROM files f "
            "JOIN parsed p ON p.hash = f.hash AND p.language = COALESCE(f.language, '')"
        )
        for path, digest, size, mtime, language, data in rows:
            yield FileRow(path, digest, size, mtime, language), json.loads(data)

    def record(self, digest: str, language: str | None) -> dict[str, Any] | None:
        """The stored record of a content hash, if any."""
        row = self._db.execute(
            "SELECT data FROM parsed WHERE hash=? AND language=?", (digest, language or "")
        ).fetchone()
        return json.loads(row[0]) if row else None

    def known_hashes(self) -> set[tuple[str, str]]:
        """``(hash, language)`` of every stored record."""
        return {(h, lang) for h, lang in self._db.execute("SELECT hash, language FROM parsed")}

    @staticmethod
    def put(db: sqlite3.Connection, row: FileRow, record: dict[str, Any] | None) -> None:
        """Store a file row (and its record when new) inside a transaction."""
        if record is not None:
            db.execute(
                "INSERT OR REPLACE INTO parsed VALUES (?, ?, ?)",
                (row.hash, row.language or "", json.dumps(record, separators=(",", ":"))),
            )
        db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
            (row.path, row.hash, row.size, row.mtime_ns, row.language),
        )

    @staticmethod
    def put_json(db: sqlite3.Connection, row: FileRow, record_json: str | None) -> None:
        """Like :meth:`put`, with the record already encoded."""
        if record_json is not None:
            db.execute("INSERT OR REPLACE INTO parsed VALUES (?, ?, ?)",
                       (row.hash, row.language or "", record_json))
        db.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
                   (row.path, row.hash, row.size, row.mtime_ns, row.language))

    @staticmethod
    def delete(db: sqlite3.Connection, paths_: Iterable[str]) -> None:
        """Forget files inside a transaction."""
        db.executemany("DELETE FROM files WHERE path=?", [(p,) for p in paths_])

    def collect_garbage(self) -> int:
        """Drop records no file refers to; returns how many went."""
        with self.transaction() as db:
            cur = db.execute(
                "DELETE FROM parsed WHERE NOT EXISTS (SELECT 1 FROM files f WHERE "
                "f.hash = parsed.hash AND COALESCE(f.language, '') = parsed.language)"
            )
            return cur.rowcount

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def touch(self, root: Path | None = None) -> None:
        """Record the time of a refresh (and the indexed root, which ``index --prune`` reads)."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('updated', ?)", (str(time.time()),))
            if root is not None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (str(root),))
