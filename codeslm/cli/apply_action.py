"""Running one action from the terminal (``codeslm action``, ``codeslm edit``): read the file,
plan, generate, and show the change as a unified diff; write it atomically on request.

The same registry, prompts and minimal edits as the editor (:mod:`codeslm.actions`). Nothing
is written unless ``--write`` is given or the user answers yes at the terminal; a file read
from stdin (``-``) is never written: its new text (or the diff) is printed instead. Every bad
input is one ``error:`` line and a nonzero exit, with nothing written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..actions import (
    Action,
    FileChange,
    Problem,
    RefactorPlan,
    RefactorRequest,
    apply_answer,
    generate_answer,
)
from ..config import Config
from ..documents import looks_binary, normalise_language, read_document
from ..errors import InputError
from ..fileio import atomic_write, read_text_if_exists, unified_diff
from ..textedit import apply_edits
from ..types import Document, Position, Range
from . import common

MAX_STDIN_CHARS = 200_000
_TARGET = re.compile(r"(?P<path>.+?)(?::(?P<first>\d+)(?:-(?P<last>\d+))?)?")


@dataclass(frozen=True, slots=True)
class Target:
    """``FILE[:LINE[-LINE]]``: a path (``-`` for stdin) and 1-based lines, when given
    (``last`` only for a range: one line alone is a cursor there)."""

    path: str
    first: int | None = None
    last: int | None = None

    @property
    def stdin(self) -> bool:
        return self.path == "-"


def parse_target(spec: str) -> Target:
    """Parse ``FILE[:LINE[-LINE]]``; InputError when the lines are not a valid range."""
    match = _TARGET.fullmatch(spec)
    if not spec or match is None:
        raise InputError(f"{spec!r} is not FILE[:LINE[-LINE]]", hint="e.g. app.py:12-20")
    first = int(match["first"]) if match["first"] else None
    last = int(match["last"]) if match["last"] else None
    if first is not None and (first < 1 or (last is not None and last < first)):
        raise InputError(f"{spec!r}: lines start at 1 and a range goes FIRST-LAST")
    return Target(match["path"], first, last)


def read_target(target: Target, language: str | None) -> Document:
    """The document to change: the file, or stdin for ``-`` (InputError when missing, binary,
    not UTF-8 or too large)."""
    lang = normalise_language(language) if language else None
    if target.stdin:
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("FILE is - but nothing is piped on stdin")
        data = sys.stdin.buffer.read(MAX_STDIN_CHARS * 4 + 1)
        if len(data) > MAX_STDIN_CHARS * 4 or looks_binary(data):
            raise InputError("stdin is binary or too large to change")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("stdin is not UTF-8 text") from None
        return Document(text, None, lang or "python")
    document = read_document(target.path)
    return Document(document.text, str(Path(target.path).resolve()), lang or document.language)


def target_range(document: Document, target: Target) -> Range:
    """The lines of ``target`` as a range: a cursor at the first word of one line, whole
    lines for a range, the whole text without lines. InputError past the end."""
    lines = document.text.split("\n")
    count = len(lines) - (1 if document.text.endswith("\n") else 0)
    if target.first is None:
        return Range(Position(0, 0), Position(len(lines) - 1, len(lines[-1])))
    last = target.last or target.first
    if last > max(count, 1):
        where = "the file" if not target.stdin else "stdin"
        raise InputError(f"line {last} is past the end of {where} ({count} lines)")
    if target.last is None:
        line = lines[target.first - 1]
        cursor = Position(target.first - 1, len(line) - len(line.lstrip(" \t")))
        return Range(cursor, cursor)
    if last < len(lines) - 1 or document.text.endswith("\n"):
        end = Position(last, 0)
    else:
        end = Position(last - 1, len(lines[last - 1]))
    return Range(Position(target.first - 1, 0), end)


def project_root(path: str | None) -> str | None:
    """The repository around ``path`` (the nearest directory with ``.git``), else its folder."""
    if path is None:
        return None
    folder = Path(path).parent
    for directory in [folder, *folder.parents]:
        if (directory / ".git").exists():
            return str(directory)
    return str(folder)


def _read_text(path: str) -> str | None:
    return read_text_if_exists(Path(path))


@dataclass(frozen=True, slots=True)
class Outcome:
    """One changed file: its text before (None: a new file) and after, and the diff."""

    change: FileChange
    old: str | None
    new: str
    diff: str


def run_action(
    args: argparse.Namespace,
    config: Config,
    action: Action,
    target: Target,
    *,
    instruction: str = "",
    problem: str | None = None,
) -> int:
    """Plan, generate, show and (maybe) write ``action`` at ``target``; the exit code."""
    if target.stdin and getattr(args, "write", False):
        raise InputError("--write needs a file; text read from stdin is printed, not written")
    document = read_target(target, getattr(args, "lang", None))
    rng = target_range(document, target)
    found = Problem(problem, rng) if problem else None
    request = RefactorRequest(
        action.name, document, rng, instruction, found, project_root(document.path)
    )
    plan = action.plan(request, _read_text)
    answer = _generate(config, plan)
    outcomes = [
        _outcome(change, document) for change in apply_answer(plan, answer, read_text=_read_text)
    ]
    return _finish(args, plan, outcomes, target)


def _generate(config: Config, plan: RefactorPlan) -> str:
    from ..session import open_session

    tty = common.stderr_is_tty()
    if tty:
        common.note(f"codeslm: {plan.title}…")

    async def body() -> str:
        async with open_session(config) as session:
            return await generate_answer(
                session.backend,
                plan,
                temperature=config.gen.temperature,
                max_tokens=config.gen.max_tokens,
            )

    return common.run(body)


def _outcome(change: FileChange, document: Document) -> Outcome:
    old = None if change.create else change.base_text
    new = apply_edits(change.base_text, list(change.edits))
    shown = Path(change.path) if change.path else Path("stdin")
    with contextlib.suppress(ValueError):
        shown = shown.relative_to(Path.cwd())
    return Outcome(change, old, new, unified_diff(old, new, shown))


def _finish(
    args: argparse.Namespace, plan: RefactorPlan, outcomes: list[Outcome], target: Target
) -> int:
    write = bool(getattr(args, "write", False))
    if getattr(args, "json", False):
        if write:
            _write(outcomes)
        print(json.dumps(_as_json(plan, outcomes, written=write), indent=2))
        return 0
    if target.stdin and not getattr(args, "diff", False):
        for outcome in outcomes:
            sys.stdout.write(outcome.new)
        return 0
    _print_diff("".join(o.diff for o in outcomes))
    if target.stdin:
        return 0
    if not write and sys.stdout.isatty() and sys.stdin is not None and sys.stdin.isatty():
        write = _confirm("Apply? [y/N] ")
        if not write:
            common.note("not applied")
            return 0
    if write:
        _write(outcomes)
    return 0


def _print_diff(diff: str) -> None:
    if common.color_enabled(sys.stdout):
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        from pygments.lexers import DiffLexer

        diff = highlight(diff, DiffLexer(), TerminalFormatter())
    sys.stdout.write(diff if diff.endswith("\n") or not diff else diff + "\n")
    sys.stdout.flush()


def _confirm(question: str) -> bool:
    sys.stderr.write(question)
    sys.stderr.flush()
    try:
        answer = sys.stdin.readline().strip().lower()
    except (OSError, KeyboardInterrupt):
        return False
    return answer in {"y", "yes"}


def _write(outcomes: list[Outcome]) -> None:
    """Write every changed file atomically; each must still hold the text the change was
    computed against (else InputError and that file is left alone)."""
    for outcome in outcomes:
        atomic_write(Path(outcome.change.path), outcome.new, expected_old=outcome.old)
        common.note(f"wrote {outcome.change.path}")


def _as_json(plan: RefactorPlan, outcomes: list[Outcome], *, written: bool) -> dict[str, Any]:
    def position(p: Position) -> dict[str, int]:
        return {"line": p.line, "character": p.character}

    return {
        "action": plan.request.kind,
        "title": plan.title,
        "written": written,
        "changes": [
            {
                "path": o.change.path or None,
                "create": o.change.create,
                "edits": [
                    {
                        "range": {"start": position(e.range.start), "end": position(e.range.end)},
                        "new_text": e.new_text,
                    }
                    for e in o.change.edits
                ],
                "diff": o.diff,
                "new_text": o.new,
            }
            for o in outcomes
        ],
    }


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """The flags ``codeslm action`` and ``codeslm edit`` share."""
    parser.add_argument(
        "--write", "-w", action="store_true", help="apply the change to the file(s) without asking"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the edits, diff and new text as JSON for tools"
    )
    parser.add_argument(
        "--diff", action="store_true", help="with FILE -, print the diff instead of the new text"
    )
    parser.add_argument(
        "--lang", "-l", help="language (default: from the file name; python for stdin)"
    )
