"""Deleting index databases nobody needs any more (``codeslm index --prune``).

Every workspace gets its own database under ``<data dir>/index``, and nothing removed them: a
deleted checkout, a temporary directory or a renamed repository left its database behind. A
database is pruned when

- the root it indexed (recorded at each refresh) no longer exists as a directory ("gone"),
- it cannot be read as an index database ("unreadable"), or
- ``older_than_s`` is given and it was not refreshed for that long ("unused").

Databases written before the root was recorded are pruned by age only. The database's WAL
and shared-memory files go with it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import paths

SIDE_FILES = ("-wal", "-shm")


@dataclass(slots=True)
class PruneReport:
    """What a prune removed (by reason) and kept."""

    removed: dict[str, list[Path]] = field(default_factory=dict)
    kept: int = 0
    freed_bytes: int = 0

    @property
    def removed_count(self) -> int:
        return sum(len(v) for v in self.removed.values())

    def line(self) -> str:
        """One line for the user."""
        if not self.removed_count:
            if not self.kept:
                return "nothing to prune (no index databases)"
            return f"nothing to prune ({self.kept} index database(s) in use)"
        reasons = ", ".join(f"{len(v)} {why}" for why, v in sorted(self.removed.items()))
        return (
            f"pruned {self.removed_count} index database(s), {self.freed_bytes / 1e6:,.1f} "
            f"MB freed ({reasons}); {self.kept} kept"
        )


def index_dir() -> Path:
    return paths.data_dir() / "index"


def _meta(path: Path) -> dict[str, str] | None:
    """The meta table of an index database; None when it is not one."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2.0)
    except sqlite3.Error:
        return None
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def _reason(path: Path, older_than_s: float | None, now: float) -> str | None:
    meta = _meta(path)
    if meta is None:
        return "unreadable"
    root = meta.get("root")
    if root is not None and not Path(root).is_dir():
        return "gone"
    if older_than_s is not None:
        try:
            updated = float(meta.get("updated", ""))
        except ValueError:
            updated = path.stat().st_mtime
        if now - updated > older_than_s:
            return "unused"
    return None


def prune(
    directory: Path | None = None,
    *,
    older_than_s: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneReport:
    """Delete the databases described in the module docstring; returns what went."""
    directory = directory if directory is not None else index_dir()
    now = time.time() if now is None else now
    report = PruneReport()
    if not directory.is_dir():
        return report
    for db in sorted(directory.glob("*.sqlite")):
        why = _reason(db, older_than_s, now)
        if why is None:
            report.kept += 1
            continue
        report.removed.setdefault(why, []).append(db)
        for path in (db, *(db.with_name(db.name + s) for s in SIDE_FILES)):
            try:
                report.freed_bytes += path.stat().st_size
                if not dry_run:
                    path.unlink()
            except FileNotFoundError:
                pass
    return report
