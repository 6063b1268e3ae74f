"""``codeslm index --prune``: index databases of deleted, unused and broken workspaces go."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

from codeslm.context.store import database_path

from ..conftest import codeslm_command


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*codeslm_command(), *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120)


def _workspace(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    root.mkdir()
    (root / "mod.py").write_text("def f():\n    return 1\n")
    done = _run("index", str(root))
    assert done.returncode == 0, done.stderr
    assert database_path(root).is_file()
    return root


def test_prune_removes_gone_unreadable_and_unused_databases(tmp_path: Path) -> None:
    kept = _workspace(tmp_path, "kept")
    gone = _workspace(tmp_path, "gone")
    old = _workspace(tmp_path, "old")
    shutil.rmtree(gone)
    with sqlite3.connect(database_path(old)) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'updated'",
                   (str(time.time() - 40 * 86_400),))
    broken = database_path(kept).with_name("broken-0123456789abcdef.sqlite")
    broken.write_bytes(b"this is not an index" * 64)

    dry = _run("index", "--prune", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would prune 2 index database(s)")
    assert str(database_path(gone)) in dry.stdout and broken.is_file()

    pruned = _run("index", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    line, = pruned.stdout.splitlines()
    assert line.startswith("pruned 2 index database(s)")
    assert line.endswith("(1 gone, 1 unreadable); 2 kept")
    assert not database_path(gone).exists() and not broken.exists()
    assert not database_path(gone).with_name(database_path(gone).name + "-wal").exists()

    by_age = _run("index", "--prune", "--older-than", "30")
    assert by_age.stdout.strip().endswith("(1 unused); 1 kept")
    assert database_path(kept).is_file() and not database_path(old).exists()
    again = _run("index", "--prune").stdout.strip()
    assert again == "nothing to prune (1 index database(s) in use)"


def test_prune_input_errors(tmp_path: Path) -> None:
    with_path = _run("index", "--prune", str(tmp_path))
    assert with_path.returncode == 2 and "--prune takes no PATH" in with_path.stderr
    stray = _run("index", "--older-than", "3", str(tmp_path))
    assert stray.returncode == 2 and "go with --prune" in stray.stderr
    negative = _run("index", "--prune", "--older-than", "-1")
    assert negative.returncode == 2 and len(negative.stderr.strip().splitlines()) == 1
