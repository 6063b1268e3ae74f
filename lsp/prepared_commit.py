"""Commit messages written while the user stages changes, before ``git commit`` asks.

For each workspace folder inside a git work tree, the server looks at the repository's index,
``HEAD``, the branch's ref and ``packed-refs`` (a ``stat`` of each per poll, every
``git.prepare_quiet_s / 2`` seconds, between 0.25 and 2 s; no git process). Once they have
not changed for ``git.prepare_quiet_s`` and no completion has run for as long, it reads the
staged change in a worker thread and, when something is staged and the store under the git dir
has no message for it, has the model write the hook's message (:mod:`codeslm.git.ahead`); the
prepare-commit-msg hook then shows it without a model call. ``git.prepare = false`` turns it
off.

It never competes with the user:

- its requests are marked ``warm``: the shared model daemon runs them after, and drops them
  for, any real request of any process (another editor, the CLI, the hook itself);
- a completion starting in this server, a git command holding the index lock, the staged
  change moving, or a ``git commit`` starting (git rewrites ``COMMIT_EDITMSG`` before the hook
  runs; the hook then writes its own message rather than wait) stops it within
  :data:`CHECK_S`; it starts again at the next quiet moment, and not while a commit's hook
  may still be running (``git.timeout_s`` after ``COMMIT_EDITMSG`` was written);
- git runs in a worker thread, so the server never waits for it. A failure is logged and not
  retried until the index changes.

``codeslm/preparedCommit`` (a request, no parameters) answers what it last did, per repository.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeslm.backends.base import Backend
from codeslm.errors import CodeslmError
from codeslm.git import ahead
from codeslm.git.repo import GitRepo
from codeslm.types import BackendHealth, Chunk, GenerationRequest, ModelInfo

from .server import CodeslmServer

log = logging.getLogger(__name__)

METHOD = "codeslm/preparedCommit"
POLL_MIN_S, POLL_MAX_S = 0.25, 2.0
CHECK_S = 0.1  # how often a running preparation looks for a reason to stop

Stamp = tuple[Any, ...]


class Preempted(Exception):
    """The daemon dropped a warm request for a real one."""


class BackgroundBackend(Backend):
    """The server's backend with every request marked ``warm`` (see the module docstring)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.name = inner.name

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        chunks = self.inner.stream(dataclasses.replace(request, warm=True))
        async with contextlib.aclosing(chunks):  # type: ignore[type-var]
            async for chunk in chunks:
                if chunk.finish_reason == "cancelled":
                    raise Preempted
                yield chunk

    async def health(self) -> BackendHealth:
        return await self.inner.health()

    async def tokenize(self, text: str) -> list[int]:
        return await self.inner.tokenize(text)

    async def model_info(self) -> ModelInfo:
        return await self.inner.model_info()

    async def count_tokens(self, text: str) -> int:
        return await self.inner.count_tokens(text)

    def count_tokens_sync(self, text: str) -> int | None:
        return self.inner.count_tokens_sync(text)


@dataclass(slots=True)
class Watched:
    """One repository: where its state lives and what was last done for it."""

    repo: GitRepo
    index: Path
    head: Path
    common: Path
    editmsg: Path  # git writes it right before the prepare-commit-msg hook runs
    stamp: Stamp | None = None
    changed_at: float = 0.0
    settled: bool = False  # the current state was dealt with (prepared, nothing staged, failed)
    last: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, root: str) -> Watched | None:
        """The repository of folder ``root`` (None when it is not in a git work tree)."""
        try:
            repo = GitRepo.discover(Path(root))
            paths = [repo.git_path(name) for name in ("index", "HEAD", "COMMIT_EDITMSG")]
            common = repo.git_path("packed-refs").parent
            return cls(repo, paths[0], paths[1], common, paths[2])
        except CodeslmError as exc:
            log.info("no commit messages prepared for %s: %s", root, exc)
            return None

    def read_stamp(self) -> Stamp:
        """What changes when something is staged, unstaged or committed (stats only)."""
        head, refs = self._refs()
        return (head, *(_stat(f) for f in (self.index, *refs, self.editmsg)))

    def _refs(self) -> tuple[str, list[Path | None]]:
        """HEAD's text, and the files a commit moves: HEAD, packed-refs, the branch's ref."""
        try:
            head = self.head.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            head = ""
        ref = self.common / head[5:].strip() if head.startswith("ref:") else None
        return head, [self.head, self.common / "packed-refs", ref]

    def busy(self, hook_s: float) -> bool:
        """A git command is changing the index (``git add``), or a ``git commit`` may be
        running its hook: ``COMMIT_EDITMSG`` was written less than ``hook_s`` ago and no
        commit has moved a ref since. The hook then writes its own message; competing with
        it for the CPU would only slow it down."""
        if self.index.with_name(self.index.name + ".lock").exists():
            return True
        started = _stat(self.editmsg)
        if started is None or time.time() - started[0] / 1e9 >= hook_s:
            return False
        moved = [st[0] for st in map(_stat, self._refs()[1]) if st is not None]
        return max(moved, default=0) < started[0]

    def note(self, state: str, detail: str = "") -> None:
        self.last = {
            "root": str(self.repo.root),
            "state": state,
            "detail": detail,
            "at": time.time(),
        }
        log.info(
            "prepared commit message for %s: %s%s",
            self.repo.root,
            state,
            f" ({detail})" if detail else "",
        )


def _stat(path: Path | None) -> tuple[int, int, int] | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class CommitPreparer:
    """The background loop of one server; see the module docstring."""

    def __init__(self, ls: CodeslmServer) -> None:
        self.ls = ls
        self.watched: dict[str, Watched] = {}
        self._roots: list[str] | None = None

    def quiet_s(self) -> float:
        return max(0.0, float(self.ls.services.config.git.prepare_quiet_s))

    def hook_s(self) -> float:
        """How long a commit's hook may run (its timeout, and the watchdog's grace)."""
        return float(self.ls.services.config.git.timeout_s) + 2.0

    async def run(self) -> None:
        """Poll until the server stops (its task is cancelled)."""
        while True:
            await asyncio.sleep(min(POLL_MAX_S, max(POLL_MIN_S, self.quiet_s() / 2)))
            if not self.ls.services.config.git.prepare:
                continue
            try:
                await self._follow_roots()
                for watched in list(self.watched.values()):
                    await self.tick(watched)
            except Exception:  # the loop must outlive any one bad round
                log.exception("preparing a commit message failed")

    async def _follow_roots(self) -> None:
        roots = self.ls.services.roots
        if roots == self._roots:
            return
        self._roots = roots
        found = await asyncio.gather(*(asyncio.to_thread(Watched.open, r) for r in roots))
        self.watched = {str(w.repo.root): w for w in found if w is not None}

    async def tick(self, watched: Watched) -> None:
        """One poll of one repository: note a change, or prepare once it has settled."""
        stamp = watched.read_stamp()
        now = time.monotonic()
        if stamp != watched.stamp:
            watched.stamp, watched.changed_at, watched.settled = stamp, now, False
            return
        quiet = self.quiet_s()
        if watched.settled or now - watched.changed_at < quiet or watched.busy(self.hook_s()):
            return
        if not self._completions_idle(quiet):
            return
        await self.prepare(watched, stamp)

    def _completions_idle(self, quiet: float) -> bool:
        now = time.monotonic()
        return all(
            not e.places.active and now - e.places.last_active >= quiet
            for e in self.ls.services.engines_if_built()
        )

    async def prepare(self, watched: Watched, stamp: Stamp) -> None:
        """Plan in a worker thread, then write and store the message unless it is there."""
        config = self.ls.services.config
        try:
            plan = await asyncio.to_thread(ahead.plan, watched.repo, config)
        except CodeslmError as exc:  # e.g. HEAD moved meanwhile: the next poll sees it
            watched.note("not read", exc.message)
            return
        if plan is None:
            watched.settled = True
            watched.note("nothing staged")
            return
        if plan.store.get(plan.key) is not None:
            watched.settled = True
            watched.note("already prepared", plan.key[:12])
            return
        watched.note("writing", plan.key[:12])
        backend = BackgroundBackend(self.ls.services.backend)
        task = asyncio.ensure_future(ahead.produce(plan, config, backend))
        reason = await self._watch(task, watched, stamp)
        if reason:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            watched.note("stopped", reason)
            return
        self._finish(task, watched)

    async def _watch(self, task: asyncio.Future[Any], watched: Watched, stamp: Stamp) -> str:
        """Wait for ``task``; the reason to stop it early, or "" when it ended by itself."""
        started = time.monotonic()
        while not task.done():
            await asyncio.wait({task}, timeout=CHECK_S)
            if task.done():
                break
            if any(e.places.active or e.places.last_active > started
                   for e in self.ls.services.engines_if_built()):
                return "a completion was requested"
            if watched.read_stamp() != stamp:
                return "the repository changed (staging, or a commit started)"
            if watched.busy(self.hook_s()):
                return "git is using the index"
            if not self.ls.services.config.git.prepare:
                return "git.prepare was turned off"
        return ""

    def _finish(self, task: asyncio.Future[Any], watched: Watched) -> None:
        try:
            entry, fresh = task.result()
        except (Preempted, asyncio.CancelledError):
            watched.note("stopped", "the model daemon served a real request first")
            return
        except Exception as exc:  # an optimisation: log it, try again when the index changes
            watched.settled = True
            detail = exc.message if isinstance(exc, CodeslmError) else f"{type(exc).__name__}"
            watched.note("failed", detail)
            log.debug("preparing a commit message failed", exc_info=True)
            return
        watched.settled = True
        watched.note("prepared" if fresh else "already prepared", entry.message.split("\n")[0])

    def report(self) -> dict[str, Any]:
        return {
            "enabled": self.ls.services.config.git.prepare,
            "repositories": [
                w.last or {"root": str(w.repo.root), "state": "watching"}
                for w in self.watched.values()
            ],
        }


_PREPARERS: weakref.WeakKeyDictionary[CodeslmServer, CommitPreparer] = weakref.WeakKeyDictionary()


def start(ls: CodeslmServer) -> None:
    """Start watching (once per server; :mod:`.lifecycle` calls it when the session starts)."""
    if ls in _PREPARERS:
        return
    preparer = _PREPARERS[ls] = CommitPreparer(ls)
    ls.spawn(preparer.run(), "prepared-commit")


def register(server: CodeslmServer) -> None:
    """Register ``codeslm/preparedCommit`` on ``server``."""

    @server.feature(METHOD)
    def prepared_commit(ls: CodeslmServer, params: Any = None) -> dict[str, Any]:
        preparer = _PREPARERS.get(ls)
        return preparer.report() if preparer else {"enabled": False, "repositories": []}
