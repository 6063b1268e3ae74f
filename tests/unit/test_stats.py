"""The accept-statistics store: periods, percentiles, a broken store, the doctor's line."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from codeslm import stats


def _shown(rec: stats.Recorder, latency_ms: float, language: str = "python", *,
           cached: bool = False) -> str:
    return rec.shown(surface="inline", language=language, model="m", backend="fake",
                     latency_ms=latency_ms, chars=10, cached=cached)


def test_periods_percentiles_and_the_doctor_line(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    rec = stats.Recorder(db)
    ids = [_shown(rec, ms) for ms in (100, 200, 300, 400, 1400)]
    for _ in range(2):
        _shown(rec, 2, cached=True)  # cache hits: shown, but no model call
    assert rec.accepted(ids[0]) and rec.accepted(ids[4])
    assert rec.accepted(ids[1], chars=3, partial=True)
    assert not rec.accepted("not-an-id")
    rec.close()
    with sqlite3.connect(db) as conn:  # an event from ten days ago is outside the week
        conn.execute("UPDATE events SET ts = ? WHERE id = ?", (time.time() - 10 * 86_400, ids[3]))
    week = stats.summary(db, period="week")
    assert (week["shown"], week["from_model"], week["accepted"]) == (6, 4, 2)
    assert week["partially_accepted"] == 1
    assert week["latency_ms"]["from_model"] == {"p50": 200.0, "p90": 1400.0, "p95": 1400.0}
    assert week["latency_ms"]["shown"]["p50"] == 100.0
    assert week["latency_ms"]["accepted"]["p50"] == 100.0
    assert stats.summary(db, period=None)["shown"] == 7
    assert stats.summary(db, period="day", now=time.time() + 2 * 86_400)["shown"] == 0
    line = stats.doctor_line(db)
    assert line == ("p50 of the model's suggestions 0.2 s over 4 this week (+2 from the caches),"
                    " 33% accepted (codeslm stats)")
    slow = stats.Recorder(tmp_path / "slow.sqlite3")
    _shown(slow, 1400)
    slow.close()
    assert str(stats.doctor_line(tmp_path / "slow.sqlite3")).endswith(
        "; lsp.debounce_ms = 300 would waste less CPU")
    assert stats.clear(db) and not db.exists() and stats.doctor_line(db) is None


def test_an_unusable_store_turns_recording_off_without_raising(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    rec = stats.Recorder(blocker / "stats.sqlite3")
    sid = _shown(rec, 10)
    assert sid and not rec.enabled
    rec.accepted(sid)  # remembered in memory; must not raise with writing off
    rec.close()
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not sqlite at all" * 100)
    assert stats.summary(garbage)["shown"] == 0
    rec = stats.Recorder(garbage)
    _shown(rec, 10)
    assert not rec.enabled
