"""Index records: what is stored per file content, built in worker processes
(:func:`analyse_all`), and the in-memory entry made from it (pure apart from reading the file
in :func:`analyse_file`)."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from ..errors import InputError
from ..fileio import read_limited
from . import imports as imports_mod
from . import languages, tags
from .imports import Import
from .incremental import file_tokens
from .secrets import redact_if_needed
from .store import FileRow, content_hash
from .tags import Symbol
from .walker import classify_content

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FileEntry:
    """One indexed file (``path`` is relative to the root, ``/``-separated)."""

    path: str
    language: str | None
    hash: str
    size: int
    mtime_ns: int
    symbols: tuple[Symbol, ...]
    references: dict[str, int]
    imports: tuple[Import, ...]
    tokens: tuple[str, ...]
    lines: int
    overlay: bool = False  # content from an open buffer, not the file on disk


def build_record(data: bytes, language: str | None, *, tree: Any = None,
                 extracted: tags.FileTags | None = None) -> dict[str, Any]:
    """The stored record of one file's content (pure; runs in worker processes)."""
    text = data.decode("utf-8", "replace")
    if extracted is None:
        extracted = tags.extract(data, language, tree=tree)
    spec = languages.spec_for(language)
    keywords = spec.keywords if spec else frozenset()
    return {
        "symbols": [[s.name, s.kind, s.start_line, s.end_line, redact_if_needed(s.signature),
                     s.scope] for s in extracted.symbols],
        "refs": extracted.references,
        "imports": [[i.module, [list(p) for p in i.names], i.alias]
                    for i in imports_mod.extract_imports(text, language)],
        "tokens": sorted(file_tokens(text, keywords)),
        "lines": text.count("\n") + 1,
    }


Job = tuple[str, str, "str | None", int]  # absolute path, relpath, language, mtime_ns
Outcome = tuple[str, str, "FileRow | None", "str | None"]  # relpath, parsed|reused|reason, ...
KNOWN: set[tuple[str, str]] = set()  # hashes already stored, inherited by forked workers


def analyse_file(job: Job, known: set[tuple[str, str]] | None = None) -> Outcome:
    """Read, vet, hash and (unless the content is known) parse one file."""
    abspath, relpath, language, mtime_ns = job
    try:
        # The walker checked the size by stat; the read is bounded too (the file may have
        # grown since, or be a link to something that is not a regular file).
        data = read_limited(abspath)
    except InputError:
        return relpath, "unreadable", None, None
    reason = classify_content(data)
    if reason is not None:
        return relpath, reason, None, None
    row = FileRow(relpath, content_hash(data), len(data), mtime_ns, language)
    if (row.hash, language or "") in (KNOWN if known is None else known):
        return relpath, "reused", row, None
    record = build_record(data, language)
    return relpath, "parsed", row, json.dumps(record, separators=(",", ":"))


def analyse_all(jobs: list[Job], known: set[tuple[str, str]], *, workers: int | None,
                parallel_threshold: int) -> Iterator[Outcome]:
    """The outcome of every job, in worker processes when there are at least
    ``parallel_threshold`` jobs (``workers`` processes, by default one per usable core), else
    in this one. A pool that breaks leaves its unfinished jobs to this process."""
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:
            workers = os.cpu_count() or 1
    # Forked workers only from a single-threaded process on Linux (a language server
    # holding a model and threads parses in-process instead); fork needs no __main__ guard.
    parallel = (workers > 1 and len(jobs) >= parallel_threshold
                and sys.platform.startswith("linux") and threading.active_count() == 1)
    finished: set[str] = set()
    if parallel:
        global KNOWN
        KNOWN = known
        try:
            with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
                for outcome in pool.map(analyse_file, jobs, chunksize=4):
                    finished.add(outcome[0])
                    yield outcome
        except BrokenProcessPool as exc:
            log.warning("index workers failed (%s); parsing in this process", exc)
        finally:
            KNOWN = set()
    for job in jobs:
        if job[1] not in finished:
            yield analyse_file(job, known)


def make_entry(row: FileRow, record: dict[str, Any], *, overlay: bool = False) -> FileEntry:
    """The in-memory entry of a stored record (names interned: they repeat across files)."""
    intern = sys.intern
    return FileEntry(
        path=row.path,
        language=row.language,
        hash=row.hash,
        size=row.size,
        mtime_ns=row.mtime_ns,
        symbols=tuple(Symbol(intern(s[0]), s[1], s[2], s[3], s[4], s[5])
                      for s in record["symbols"]),
        references=dict(zip(map(intern, record["refs"]), record["refs"].values(), strict=True)),
        imports=tuple(Import(m, tuple((a, b) for a, b in names), alias)
                      for m, names, alias in record["imports"]),
        tokens=tuple(map(intern, record["tokens"])),
        lines=record["lines"],
        overlay=overlay,
    )
