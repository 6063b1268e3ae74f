"""What ``codeslm tune`` shows while it works: a count of the examples and teacher holes made,
and the training bar (steps, loss, time left), on a terminal or as plain lines in a log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import common
from .index import progress_bar


@contextmanager
def counted(label: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A bar on a terminal (the index's), else a line every few seconds counting ``unit``."""
    if common.stderr_is_tty():
        with progress_bar(label) as update:
            yield update
        return
    last = [0.0]

    def plain(done: int, total: int) -> None:
        if time.monotonic() - last[0] >= 5.0 or done >= total:
            last[0] = time.monotonic()
            common.note(f"{label}: {done}/{total} {unit}")

    yield plain


class TrainingReporter:
    """The training bar (steps, loss, ETA) on stderr, and notes between."""

    def __init__(self, train_files: int, minutes: float) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.train_files = train_files
        self.minutes = minutes
        self.console = Console(stderr=True)
        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            "loss {task.fields[loss]}",
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not common.stderr_is_tty(),
        )
        self.task = self.progress.add_task("training", total=None, loss="-")
        self.last_note = 0

    def __enter__(self) -> TrainingReporter:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def note(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def start(self, total: int, done: int) -> None:
        self.progress.update(self.task, total=total, completed=done)

    def step(self, done: int, total: int, loss: float) -> None:
        self.progress.update(self.task, completed=done, total=total, loss=f"{loss:.3f}")
        if not common.stderr_is_tty() and (done - self.last_note >= 25 or done == total):
            self.last_note = done
            self.note(f"step {done}/{total}, loss {loss:.3f}")

    def plan(self, plan: Any) -> None:
        self.note(plan.describe(self.minutes, self.train_files))
        self.progress.update(self.task, total=plan.steps_fitting)
