"""The workspace index: build, cache reload keyed by content hash, incremental updates."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from codeslm.config import Config
from codeslm.context.index import WorkspaceIndex
from codeslm.context.store import database_path
from codeslm.errors import ContextError

from .conftest import CANARIES


def _names(index: WorkspaceIndex, path: str) -> set[str]:
    return {s.name for s in index.entries[path].symbols}


def test_build_then_reload_from_the_cache(repo: Path, config: Config) -> None:
    index = WorkspaceIndex.open(repo, config.context)
    report = index.refresh(workers=1)
    assert report.parsed == report.files == len(index)
    assert {"pkg/models.py", "web/app.ts", "go/main.go", "notes.xyz"} <= set(index.entries)
    assert report.languages["python"] == 5 and report.languages["text"] >= 2
    assert report.skipped["config/server.pem.txt"] == "secret"  # a private key inside
    assert report.skipped["static/bundle.js"] == "minified"
    assert report.skipped["gen/types.go"] == "generated"
    assert {"User", "make_user", "MAX_USERS", "greet"} <= _names(index, "pkg/models.py")
    assert index.definitions("make_user")[0][0] == "pkg/models.py"
    index.close()

    again = WorkspaceIndex.open(repo, config.context)  # no file is read to load
    assert set(again.entries) == set(index.entries)
    assert _names(again, "pkg/models.py") == _names(index, "pkg/models.py")
    report = again.refresh(workers=1)
    assert report.parsed == 0 and report.reused == report.files
    again.close()


def test_only_changed_content_is_parsed(repo: Path, config: Config) -> None:
    index = WorkspaceIndex.open(repo, config.context)
    index.refresh(workers=1)
    storage = repo / "pkg" / "storage.py"
    os.utime(storage, ns=(1, 1))  # new mtime, same content: a hash, no parse
    assert index.refresh(workers=1).parsed == 0
    storage.write_text(storage.read_text() + "\n\ndef load_user(path):\n    return path\n")
    (repo / "web" / "util.js").unlink()
    report = index.refresh(workers=1)
    assert (report.parsed, report.removed) == (1, 1)
    assert "load_user" in _names(index, "pkg/storage.py")
    assert "web/util.js" not in index.entries
    assert not index.definitions("formatName")
    index.close()


def test_parallel_build_matches_serial(repo: Path, config: Config, tmp_path: Path) -> None:
    from codeslm.context import index as index_module

    serial = WorkspaceIndex.open(repo, config.context, db_path=tmp_path / "a.sqlite")
    serial.refresh(workers=1)
    old = index_module.PARALLEL_THRESHOLD
    index_module.PARALLEL_THRESHOLD = 2
    try:
        parallel = WorkspaceIndex.open(repo, config.context, db_path=tmp_path / "b.sqlite")
        parallel.refresh(workers=2)
    finally:
        index_module.PARALLEL_THRESHOLD = old
    assert {p: e.symbols for p, e in serial.entries.items()} == {
        p: e.symbols for p, e in parallel.entries.items()}


def test_buffers_change_one_file_and_revert(repo: Path, config: Config) -> None:
    index = WorkspaceIndex.open(repo, config.context)
    index.refresh(workers=1)
    before = {p: e.symbols for p, e in index.entries.items() if p != "pkg/storage.py"}
    index.set_text("pkg/storage.py", "def fresh_name():\n    pass\n", overlay=True)
    assert _names(index, "pkg/storage.py") == {"fresh_name"}
    assert not index.definitions("save_user")
    assert {p: e.symbols for p, e in index.entries.items() if p != "pkg/storage.py"} == before
    assert WorkspaceIndex.open(repo, config.context).definitions("save_user")  # not persisted
    index.revert_overlay("pkg/storage.py")
    assert "save_user" in _names(index, "pkg/storage.py")
    index.close()


def test_the_database_never_holds_secrets(repo: Path, config: Config) -> None:
    index = WorkspaceIndex.open(repo, config.context)
    index.refresh(workers=1)
    index.close()
    data = b"".join(p.read_bytes() for p in database_path(repo).parent.glob("*"))
    for canary in CANARIES:
        assert canary.encode() not in data


def test_a_corrupt_database_is_a_clear_error(repo: Path, config: Config) -> None:
    db = database_path(repo)
    db.parent.mkdir(parents=True, exist_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ContextError, match="cannot be used"):
        WorkspaceIndex.open(repo, config.context)


def test_a_stale_schema_is_rebuilt(repo: Path, config: Config) -> None:
    index = WorkspaceIndex.open(repo, config.context)
    index.refresh(workers=1)
    index.close()
    with sqlite3.connect(database_path(repo)) as db:
        db.execute("UPDATE meta SET value='0' WHERE key='schema'")
    again = WorkspaceIndex.open(repo, config.context)
    assert len(again) == 0
    assert again.refresh(workers=1).parsed > 0
    again.close()


def test_incremental_maps_equal_a_fresh_build(repo: Path, config: Config, tmp_path: Path) -> None:
    index = WorkspaceIndex.open(repo, config.context)
    index.refresh(workers=1)
    storage = (repo / "pkg" / "storage.py").read_text()
    for text in (storage + "\ndef extra_thing(x):\n    return other_call(x)\n",
                 storage.replace("json", "yaml"), "", storage):
        index.set_text("pkg/storage.py", text, overlay=True)
    index.set_text("pkg/models.py", "class Renamed:\n    pass\n", overlay=True)
    index.remove("web/util.js")
    fresh = WorkspaceIndex(repo, config.context, db_path=tmp_path / "fresh.sqlite")
    for entry in index.entries.values():
        fresh._add(entry)

    def norm(postings: dict) -> dict:
        return {k: {v} if isinstance(v, str) else set(v) for k, v in postings.items()}

    assert norm(index.postings) == norm(fresh.postings)
    assert {k: {p: list(v) for p, v in d.items()} for k, d in index.defs.items()} == {
        k: {p: list(v) for p, v in d.items()} for k, d in fresh.defs.items()}
    index.close()
    fresh.close()
