"""Local accept statistics: which suggestions were shown, which were accepted, how long they took.

Nothing here is ever sent anywhere. Events go to one SQLite file in the data directory
(:func:`store_path`); ``codeslm stats --clear`` deletes it. Each event row holds the time, the
kind (``shown``, ``accepted``, ``partial``), a random suggestion id, the surface (``inline``
ghost text or a ``menu`` item), the document's language, the model and backend names, the
latency the user waited for the suggestion, whether it came from a completion cache rather
than the model, and a character count (the suggestion's length when shown, the accepted
length otherwise). No code, file name or path is stored.

The language server writes through a :class:`Recorder` (rows are batched and written shortly
after, so the typing path pays for a list append); ``codeslm stats`` and ``codeslm doctor``
read through :func:`summary`. Rows are only ever inserted; several servers may write at once
(SQLite's locking, a short busy timeout).
"""

from __future__ import annotations

import atexit
import logging
import math
import sqlite3
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cachetools import LRUCache

from . import paths

log = logging.getLogger(__name__)

FILENAME = "stats.sqlite3"
SCHEMA_VERSION = 1
FLUSH_DELAY_S = 0.5  # rows wait this long, so a burst of requests is one transaction
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    ts REAL NOT NULL,
    event TEXT NOT NULL,
    id TEXT NOT NULL,
    surface TEXT NOT NULL,
    language TEXT NOT NULL,
    model TEXT NOT NULL,
    backend TEXT NOT NULL,
    latency_ms REAL,
    cached INTEGER NOT NULL,
    chars INTEGER
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE INDEX IF NOT EXISTS events_id ON events (id);
"""
_COLUMNS = "ts, event, id, surface, language, model, backend, latency_ms, cached, chars"

PERIODS = {"day": 86_400.0, "week": 7 * 86_400.0}
SLOW_P50_MS = 1000.0  # the doctor suggests a longer debounce above this


def store_path() -> Path:
    """Where the events are kept (``stats.sqlite3`` in the data directory)."""
    return paths.data_dir() / FILENAME


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=1.0, check_same_thread=False)
    # WAL: readers (codeslm stats) never block a server's writes; NORMAL: no fsync per commit
    # (losing the last rows in a power cut is acceptable for statistics).
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return conn


@dataclass(frozen=True, slots=True)
class Shown:
    """What a suggestion was, kept so an accept can be attributed to it."""

    surface: str
    language: str
    model: str
    backend: str
    latency_ms: float
    cached: bool
    chars: int


class Recorder:
    """Appends events for one language server; see the module docstring.

    Never raises: a store that cannot be opened or written is logged once and recording stops
    (completions must not suffer for statistics).
    """

    def __init__(self, path: Path | None = None, *, enabled: bool = True) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[Any, ...]] = []
        self._recent: LRUCache[str, Shown] = LRUCache(maxsize=1024)
        self._timer: Any = None
        self.enabled = enabled
        atexit.register(self.flush)

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else store_path()

    def shown(
        self,
        *,
        surface: str,
        language: str,
        model: str,
        backend: str,
        latency_ms: float,
        chars: int,
        cached: bool = False,
    ) -> str:
        """Record a suggestion handed to the editor; returns its id for the accept command."""
        sid = uuid.uuid4().hex[:16]
        info = Shown(surface, language or "unknown", model, backend, latency_ms, cached, chars)
        self._recent[sid] = info
        self._add("shown", sid, info, chars)
        return sid

    def accepted(self, sid: str, *, chars: int | None = None, partial: bool = False) -> bool:
        """Record that suggestion ``sid`` was accepted (wholly, or ``chars`` of it when
        ``partial``); False when the id is unknown. Written at once."""
        info = self._recent.get(sid) or self._lookup(sid)
        if info is None:
            return False
        self._add(
            "partial" if partial else "accepted", sid, info, info.chars if chars is None else chars
        )
        self.flush()
        return True

    def _add(self, event: str, sid: str, info: Shown, chars: int) -> None:
        if not self.enabled:
            return
        self._pending.append(
            (
                time.time(),
                event,
                sid,
                info.surface,
                info.language,
                info.model,
                info.backend,
                round(info.latency_ms, 1),
                int(info.cached),
                chars,
            )
        )
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a script, a test): write now
            self.flush()
            return
        self._timer = loop.call_later(FLUSH_DELAY_S, self.flush)

    def _open(self) -> sqlite3.Connection | None:
        if self._conn is None and self.enabled:
            try:
                self._conn = _connect(self.path)
            except (sqlite3.Error, OSError) as exc:
                log.warning("accept statistics are off: cannot open %s (%s)", self.path, exc)
                self.enabled = False
        return self._conn

    def _lookup(self, sid: str) -> Shown | None:
        """A suggestion shown before this server's memory of it (an earlier server, a flood)."""
        self.flush()
        conn = self._open()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT surface, language, model, backend, latency_ms, cached, chars FROM events "
                "WHERE id = ? AND event = 'shown' LIMIT 1",
                (sid,),
            ).fetchone()
        except sqlite3.Error:
            return None
        if not row:
            return None
        surface, language, model, backend, latency_ms, cached, chars = row
        return Shown(surface, language, model, backend, latency_ms, bool(cached), chars)

    def flush(self) -> None:
        """Write the pending rows in one transaction."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        conn = self._open()
        if conn is None:
            return
        try:
            with conn:
                conn.executemany(
                    f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            log.warning("accept statistics are off: cannot write %s (%s)", self.path, exc)
            self.enabled = False

    def close(self) -> None:
        self.flush()
        atexit.unregister(self.flush)
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# -- reading --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0-100) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _latencies(values: list[float]) -> dict[str, float | None]:
    return {f"p{q}": percentile(values, q) for q in (50, 90, 95)}


def _group(rows: Iterable[tuple[Any, ...]], column: int) -> dict[str, dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for row in rows:
        g = groups.setdefault(row[column], {"shown": set(), "accepted": set(), "partial": set()})
        g[row[1]].add(row[2])
    out: dict[str, dict[str, Any]] = {}
    for key, g in sorted(groups.items()):
        partial_only = g["partial"] - g["accepted"]
        shown = len(g["shown"])
        out[key] = {
            "shown": shown,
            "accepted": len(g["accepted"]),
            "partially_accepted": len(partial_only),
            "accept_rate": round(len(g["accepted"]) / shown, 4) if shown else None,
        }
    return out


def summary(
    path: Path | None = None, *, period: str | None = "week", now: float | None = None
) -> dict[str, Any]:
    """Counts, accept rates by language, model and surface (inline, menu), and latency
    percentiles (ms) of the shown suggestions, of those the model made (not served from a
    cache) and of the accepted ones, over ``period`` (``day``, ``week`` or None for all)."""
    path = path if path is not None else store_path()
    now = time.time() if now is None else now
    since = now - PERIODS[period] if period is not None else 0.0
    rows: list[tuple[Any, ...]] = []
    if path.is_file():
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE ts >= ? ORDER BY ts", (since,)
            ).fetchall()
        except sqlite3.Error:
            rows = []
        finally:
            conn.close()
    shown = {r[2]: r for r in rows if r[1] == "shown"}
    accepted = {r[2]: r for r in rows if r[1] == "accepted"}
    partial = {r[2]: r for r in rows if r[1] == "partial" and r[2] not in accepted}
    total = _group(rows, 4)
    return {
        "period": period or "all",
        "since": since if period is not None else (rows[0][0] if rows else None),
        "store": str(path),
        "shown": len(shown),
        "from_model": sum(1 for r in shown.values() if not r[8]),
        "accepted": len(accepted),
        "partially_accepted": len(partial),
        "accept_rate": round(len(accepted) / len(shown), 4) if shown else None,
        "by_language": total,
        "by_model": _group(rows, 5),
        "by_surface": _group(rows, 3),
        "latency_ms": {
            "shown": _latencies([r[7] for r in shown.values() if r[7] is not None]),
            "from_model": _latencies(
                [r[7] for r in shown.values() if r[7] is not None and not r[8]]
            ),
            "accepted": _latencies([r[7] for r in accepted.values() if r[7] is not None]),
        },
    }


def clear(path: Path | None = None) -> bool:
    """Delete the store (and SQLite's side files); True when there was one."""
    path = path if path is not None else store_path()
    existed = path.exists()
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
    return existed


def doctor_line(path: Path | None = None) -> str | None:
    """One line on what completions cost in real use this week, or None with no data."""
    data = summary(path, period="week")
    if not data["shown"]:
        return None
    rate = f"{data['accept_rate'] or 0.0:.0%} accepted (codeslm stats)"
    # Cache hits answer in milliseconds; what the user waits for is the model's suggestions.
    p50 = data["latency_ms"]["from_model"]["p50"]
    if p50 is None:
        return f"{data['shown']} suggestions shown this week, all from the caches, {rate}"
    cached = data["shown"] - data["from_model"]
    # With suggestions this slow a longer debounce loses few of them and much less CPU to
    # cancelled calls (benchmarks/debounce_from_stats.py on the recorded typing session).
    advice = "; lsp.debounce_ms = 300 would waste less CPU" if p50 >= SLOW_P50_MS else ""
    return (
        f"p50 of the model's suggestions {p50 / 1000:.1f} s over {data['from_model']} this week"
        + (f" (+{cached} from the caches)" if cached else "")
        + f", {rate}{advice}"
    )
