"""The thread count chosen from what other processes run (codeslm.backends.threads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeslm.backends.threads import others_running, threads_for_now


def fake_proc(tmp_path: Path, procs_running: int, own_states: list[str]) -> Path:
    proc = tmp_path / "proc"
    (proc / "self" / "task").mkdir(parents=True)
    (proc / "stat").write_text(
        f"cpu  1 2 3 4\nctxt 99\nprocs_running {procs_running}\nprocs_blocked 0\n")
    for i, state in enumerate(own_states):
        task = proc / "self" / "task" / str(100 + i)
        task.mkdir()
        # a command name with spaces and a ')' must not confuse the parser
        (task / "stat").write_text(f"{100 + i} (py (worker) 1) {state} 1 2 3\n")
    return proc


def test_other_processes_are_counted_without_this_ones_own_threads(tmp_path: Path) -> None:
    # 5 running in all: this process's 2 spinning llama.cpp threads and 3 others
    assert others_running(fake_proc(tmp_path, 5, ["R", "R", "S", "S"])) == 3


def test_never_negative_and_none_without_proc(tmp_path: Path) -> None:
    assert others_running(fake_proc(tmp_path, 1, ["R", "R"])) == 0
    assert others_running(tmp_path / "nowhere") is None


@pytest.mark.parametrize(("configured", "cores", "others", "expected"), [
    (2, 2, 0, 2),    # a quiet machine: all configured threads
    (2, 2, 1, 1),    # one core taken by another program
    (2, 2, 5, 1),    # never fewer than one
    (4, 8, 2, 4),    # never more than configured
    (8, 8, 3, 5),
    (2, 2, None, 2),  # no /proc: as configured
])
def test_threads_for_now(configured: int, cores: int, others: int | None,
                         expected: int) -> None:
    assert threads_for_now(configured, cores, others) == expected
