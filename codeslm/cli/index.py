"""``codeslm index [PATH]``: build or refresh the workspace index used for cross-file context."""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..context.index import IndexReport, WorkspaceIndex
from ..context.prune import prune
from ..errors import InputError
from . import common


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "index",
        parents=parents,
        help="build or refresh the cross-file context index of a repository",
        description="Index the source files of PATH (default: the git repository around the "
        "current directory, else the current directory) for cross-file completion context. "
        "Only changed files are re-parsed; .gitignore, .codeslmignore, secret files, binary, "
        "huge, minified and generated files are skipped.",
    )
    p.add_argument("path", nargs="?", metavar="PATH", help="the workspace root")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--skipped", action="store_true", help="list every skipped file and why")
    prune = p.add_argument_group("pruning (instead of indexing)")
    prune.add_argument("--prune", action="store_true",
                       help="delete the index databases of repositories that no longer exist "
                       "(and unreadable ones)")
    prune.add_argument("--older-than", type=float, metavar="DAYS",
                       help="with --prune: also delete those not refreshed for DAYS days")
    prune.add_argument("--dry-run", action="store_true",
                       help="with --prune: only say what would be deleted")
    p.set_defaults(run=run)


def workspace_root(start: Path, *, fallback: Path | None = None) -> Path:
    """The git top level around ``start``, else ``fallback``, else ``start`` itself."""
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    default = fallback if fallback is not None else directory
    try:
        out = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return default
    top = out.stdout.strip()
    return Path(top) if out.returncode == 0 and top else default


def run_prune(args: argparse.Namespace) -> int:
    """``--prune``: one line saying what went (the paths too with --dry-run or -v)."""
    if args.path is not None:
        raise InputError("--prune takes no PATH: it looks at every index database")
    if args.older_than is not None and args.older_than < 0:
        raise InputError(f"--older-than must be a number of days >= 0, not {args.older_than:g}")
    older = args.older_than * 86_400.0 if args.older_than is not None else None
    report = prune(older_than_s=older, dry_run=args.dry_run)
    line = report.line()
    print(line.replace("pruned", "would prune", 1) if args.dry_run else line)
    if args.dry_run or args.verbose:
        for why, dbs in sorted(report.removed.items()):
            for db in dbs:
                print(f"  {why:10} {db}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.prune:
        return run_prune(args)
    if args.older_than is not None or args.dry_run:
        raise InputError("--older-than and --dry-run go with --prune")
    loaded = common.load(args)
    if args.path is not None:
        root = Path(args.path)
        if not root.exists():
            raise InputError(f"{root}: no such directory")
        if not root.is_dir():
            raise InputError(f"{root}: not a directory")
        root = root.resolve()
    else:
        root = workspace_root(Path.cwd())
    index = WorkspaceIndex.open(root, loaded.config.context)
    try:
        with progress_bar(f"indexing {root.name}") as update:
            report = index.refresh(progress=update)
    finally:
        index.close()
    if args.json:
        print(json.dumps(_as_json(report, root, index.store.path), indent=2))
    else:
        print(format_summary(report, root, show_skipped=args.skipped))
    return 0


def format_summary(report: IndexReport, root: Path, *, show_skipped: bool = False) -> str:
    """The human summary: files, symbols, languages, time, skipped and why."""
    langs = ", ".join(f"{name} {count}" for name, count in
                      sorted(report.languages.items(), key=lambda kv: (-kv[1], kv[0])))
    reasons = Counter(report.skipped.values())
    lines = [
        f"indexed {root}",
        f"  files     {report.files} ({report.parsed} parsed, {report.reused} unchanged, "
        f"{report.removed} removed)",
        f"  symbols   {report.symbols}",
        f"  languages {langs or '-'}",
        f"  time      {report.seconds:.2f}s",
    ]
    skipped = ", ".join(f"{n} {why}" for why, n in reasons.most_common())
    extra = f"{report.ignored} ignored by .gitignore/.codeslmignore"
    lines.append(f"  skipped   {skipped + '; ' if skipped else ''}{extra}")
    if report.truncated:
        lines.append("  note      stopped at context.max_files files; raise it or add "
                     ".codeslmignore patterns")
    if show_skipped:
        for path, why in sorted(report.skipped.items()):
            lines.append(f"    {why:10} {path}")
    return "\n".join(lines)


def _as_json(report: IndexReport, root: Path, db: Path) -> dict[str, Any]:
    return {
        "root": str(root), "database": str(db), "files": report.files, "parsed": report.parsed,
        "unchanged": report.reused, "removed": report.removed, "symbols": report.symbols,
        "languages": report.languages, "seconds": round(report.seconds, 3),
        "skipped": report.skipped, "ignored": report.ignored, "truncated": report.truncated,
    }


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A files-done bar on stderr when it is a terminal, sparse lines otherwise."""
    if common.stderr_is_tty():  # NO_COLOR removes colour only (rich honours it), not the bar
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), transient=True,
                      console=Console(stderr=True)) as progress:
            task = progress.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            yield update
        return
    last = [0.0]

    def plain(done: int, total: int) -> None:
        now = time.monotonic()
        if (now - last[0] >= 2.0 and done < total) or (done >= total and last[0] >= 0):
            last[0] = now if done < total else -1.0  # the final line once
            common.note(f"{label}: {done}/{total} files")

    yield plain
