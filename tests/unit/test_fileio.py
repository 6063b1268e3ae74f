"""Bounded reads of user files (issue 18) and writes through links."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from codeslm.config import ContextConfig
from codeslm.context.index import WorkspaceIndex
from codeslm.documents import read_document
from codeslm.errors import InputError
from codeslm.fileio import (
    FileMissing,
    NotReadable,
    atomic_write,
    read_limited,
    read_text_if_exists,
    unified_diff,
    write_target,
)
from tests.conftest import codeslm_command

# -- reading -------------------------------------------------------------------------------


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.py"
    path.write_bytes(b"x = 1\n" * 1000)
    assert read_limited(path, 6000) == b"x = 1\n" * 1000


@pytest.mark.parametrize(("make", "reason"), [
    (lambda d: Path("/dev/zero"), "character device"),
    (lambda d: Path("/dev/null"), "character device"),
    (lambda d: Path("/proc/self/status"), "/proc or /sys pseudo-file"),
    (lambda d: Path("/proc/self/environ"), "/proc or /sys pseudo-file"),
    (lambda d: d, "is a directory"),
])
def test_what_is_not_a_regular_file_is_refused(tmp_path: Path, make, reason: str) -> None:
    with pytest.raises(NotReadable, match=reason) as info:
        read_limited(make(tmp_path), 1000)
    assert "\n" not in str(info.value)


def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(NotReadable, match="FIFO"):
        read_limited(fifo, 1000)
    assert time.monotonic() - started < 5  # opening it blocking would wait for a writer forever


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(NotReadable, match="socket"):
            read_limited(path, 1000)
    finally:
        server.close()


def test_missing_and_too_large_by_stat(tmp_path: Path) -> None:
    with pytest.raises(FileMissing, match="no such file"):
        read_limited(tmp_path / "none.py", 10)
    assert read_text_if_exists(tmp_path / "none.py") is None
    big = tmp_path / "big.py"
    big.write_bytes(b"a" * 101)
    with pytest.raises(NotReadable, match=r"too large \(101 bytes; the limit is 100\)"):
        read_limited(big, 100)


def test_a_file_growing_while_it_is_read_stops_at_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real file that a writer keeps appending to between our reads (a log, a dump being
    # written): small when opened, past the limit before the read is done.
    path = tmp_path / "growing.log"
    path.write_bytes(b"start\n")
    real_read = os.read
    appended = 0

    def read_then_append(fd: int, n: int) -> bytes:
        nonlocal appended
        data = real_read(fd, n)
        if appended < 50:
            with path.open("ab") as fh:
                fh.write(b"y" * 65536)
            appended += 1
        return data

    monkeypatch.setattr(os, "read", read_then_append)
    with pytest.raises(NotReadable, match="grew past the limit of 1,000,000 bytes"):
        read_limited(path, 1_000_000)
    monkeypatch.undo()
    assert path.stat().st_size < 4_000_000  # it stopped soon after the limit


def test_read_document_refuses_devices_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="/dev/zero: is a character device"):
        read_document("/dev/zero")


def _fake_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODESLM_")
           or k in ("CODESLM_DAEMON_ENABLED", "CODESLM_RUNTIME_DIR")}
    env.update({"CODESLM_HOME": str(tmp_path / "home"), "NO_COLOR": "1",
                "CODESLM_RUNTIME_DIR": os.environ["CODESLM_RUNTIME_DIR"],
                "CODESLM_DAEMON_ENABLED": "0", "CODESLM_FAKE_REPLY": "1"})
    return env


def _complete(location: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*codeslm_command(), "complete", "--backend", "fake", location],
                          env=_fake_env(tmp_path), cwd=tmp_path, text=True,
                          capture_output=True, timeout=60)


@pytest.mark.parametrize(("location", "reason"), [
    ("/dev/zero:1:1", "/dev/zero: is a character device, not a regular file"),
    ("/proc/self/status:1:1",
     "/proc/self/status: is a /proc or /sys pseudo-file, not a regular file"),
    ("pipe.py:1:1", "pipe.py: is a FIFO (named pipe), not a regular file"),
])
def test_complete_on_a_device_fifo_or_proc_file_fails_fast(
        tmp_path: Path, location: str, reason: str) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    started = time.monotonic()
    result = _complete(location, tmp_path)
    assert time.monotonic() - started < 30
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == f"error: {reason}", result.stderr


def test_complete_on_a_file_being_written_is_bounded(tmp_path: Path) -> None:
    # A real writer process filling the file as fast as it can while codeslm reads it.
    path = tmp_path / "dump.py"
    path.write_text("x = 1\n")
    with path.open("ab") as out:
        writer = subprocess.Popen(["yes", "print('filler line')"], stdout=out)
    try:
        result = _complete(f"{path}:1:1", tmp_path)
    finally:
        writer.kill()
        writer.wait()
    assert result.returncode != 0 and "too large" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_index_skips_devices_fifos_and_proc_links(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("def ok():\n    return 1\n")
    os.mkfifo(tmp_path / "pipe.py")
    os.mkfifo(tmp_path / ".codeslmignore")  # an ignore file nobody writes to
    (tmp_path / "zero.py").symlink_to("/dev/zero")
    (tmp_path / "status.py").symlink_to("/proc/self/status")
    index = WorkspaceIndex.open(tmp_path, ContextConfig(), db_path=tmp_path / "index.db")
    try:
        report = index.refresh(workers=1)
        assert "ok.py" in index.entries
        assert not {"pipe.py", "zero.py", "status.py"} & set(index.entries)
        assert report.skipped.get("status.py") == "unreadable"
    finally:
        index.close()


# -- writing through links -----------------------------------------------------------------


def test_a_symlink_is_written_through_keeping_the_link_and_the_mode(tmp_path: Path) -> None:
    real = tmp_path / "real" / "tool.py"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o750)
    link = tmp_path / "tool.py"
    link.symlink_to(Path("real") / "tool.py")
    target, note = write_target(link)
    assert target == real.resolve() and "symbolic link" in note and str(real.resolve()) in note
    diff = unified_diff("old\n", "new\n", link, note)
    assert diff.startswith(f"# codeslm: {link} is a symbolic link; writing through to ")
    atomic_write(link, "new\n", expected_old="old\n")
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "tool.py")
    assert real.read_text() == "new\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o750
    assert not [p for p in real.parent.iterdir() if p.name != "tool.py"]  # no temp file left


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "new.py"
    link.symlink_to(tmp_path / "made.py")
    atomic_write(link, "x = 1\n", expected_old=None)
    assert link.is_symlink() and (tmp_path / "made.py").read_text() == "x = 1\n"


def test_a_hard_linked_file_stays_linked(tmp_path: Path) -> None:
    first = tmp_path / "a.py"
    first.write_text("old\n")
    first.chmod(0o640)
    second = tmp_path / "b.py"
    os.link(first, second)
    assert "2 hard links" in write_target(first)[1]
    atomic_write(first, "new and longer\n", expected_old="old\n")
    assert second.read_text() == "new and longer\n"
    assert first.stat().st_ino == second.stat().st_ino and first.stat().st_nlink == 2
    assert stat.S_IMODE(first.stat().st_mode) == 0o640
    atomic_write(first, "s\n", expected_old="new and longer\n")  # shorter: truncated
    assert second.read_bytes() == b"s\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py", "b.py"]


def test_gen_output_on_a_symlink_says_so_and_writes_the_target(tmp_path: Path) -> None:
    real = tmp_path / "lib.py"
    real.write_text("def old():\n    pass\n")
    real.chmod(0o700)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    env = _fake_env(tmp_path)
    env["CODESLM_FAKE_REPLY"] = "```python\ndef new():\n    return 2\n```\n"
    result = subprocess.run(
        [*codeslm_command(), "gen", "--backend", "fake", "a function", "--output", str(link),
         "--yes"], env=env, cwd=tmp_path, text=True, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"# codeslm: {link} is a symbolic link; writing through to {real}" in result.stderr
    assert link.is_symlink() and real.read_text() == "def new():\n    return 2\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o700


def test_a_file_replaced_by_a_fifo_is_dropped_from_the_index(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("def a():\n    return 1\n")
    index = WorkspaceIndex.open(tmp_path, ContextConfig(), db_path=tmp_path / "index.db")
    try:
        index.refresh(workers=1)
        assert "a.py" in index.entries
        (tmp_path / "a.py").unlink()
        os.mkfifo(tmp_path / "a.py")  # the language server re-reads files that change on disk
        assert index.update_from_disk("a.py") is None
        assert "a.py" not in index.entries
    finally:
        index.close()


def test_a_config_file_that_is_a_device_is_a_one_line_error(tmp_path: Path) -> None:
    env = dict(_fake_env(tmp_path), CODESLM_CONFIG="/dev/zero")
    result = subprocess.run([*codeslm_command(), "config", "show"], env=env, cwd=tmp_path,
                            text=True, capture_output=True, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0] == "error: /dev/zero: is a character device, not a " \
        "regular file"
