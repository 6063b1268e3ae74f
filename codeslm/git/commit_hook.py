"""What the prepare-commit-msg hook does, minus process concerns (timeouts, exit codes).

Two steps, so that a prepared message costs no model at all: :func:`start` reads the message
file, applies the policy of :mod:`codeslm.git.prepare`, reads the staged change and looks its
key up in the store of :mod:`codeslm.git.prepared`; on a hit it writes that message and is done
(no backend is created). On a miss it returns a :class:`HookJob`, and :func:`finish` writes a
message with the model within the diff budget for hooks, as the hook always did (it never
waits for a producer that may be working on the same change), and stores it too. Either way
the file is replaced in one atomic rename, only if git's content is still what was read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..backends.base import Backend
from ..config import Config
from ..errors import CodeslmError, ConfigError, InputError
from ..fileio import atomic_write, read_text_if_exists
from .ahead import Plan, hook_message, plan, remember
from .prepare import MODES, comment_char_for, compose, decide
from .repo import GitRepo

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """``written`` says whether the message file was replaced; ``detail`` is one line."""

    written: bool
    detail: str


@dataclass(frozen=True, slots=True)
class HookJob:
    """A message the model still has to write (the store had none for this change)."""

    message_file: Path
    original: str
    plan: Plan


def read_message_file(path: Path) -> str:
    text = read_text_if_exists(path)
    if text is None:
        raise InputError(f"the commit message file {path} does not exist")
    return text


def start(
    repo: GitRepo,
    config: Config,
    message_file: Path,
    source: str | None,
    *,
    on_write: Callable[[], object] | None = None,
) -> HookOutcome | HookJob:
    """Decide, read the change and use a prepared message when there is one (no model).

    ``on_write`` is called once the policy says a message is to be written, before the staged
    change is read: the hook begins loading the model there, in parallel with git's work (a
    change of 700 files takes ~0.4 s to read).
    """
    if config.git.hook_write not in MODES:
        raise ConfigError(
            f"git.hook_write must be one of {', '.join(MODES)}, not {config.git.hook_write!r}"
        )
    original = read_message_file(message_file)
    comment_char = comment_char_for(repo.config_get("core.commentChar"), original)
    decision = decide(source, original, comment_char=comment_char)
    if not decision.write:
        return HookOutcome(False, decision.reason)
    if on_write is not None:
        on_write()
    found = plan(repo, config, comment_char=comment_char)
    if found is None:
        return HookOutcome(False, "nothing is staged")
    entry = found.store.get(found.key)
    if entry is None:
        return HookJob(message_file, original, found)
    origin = f"written by {entry.model} ahead of the commit ({entry.elapsed_s:.1f} s);"
    _write(message_file, original, config, entry.message, entry.notes, comment_char, origin)
    return HookOutcome(True, "prepared ahead of the commit, no model call")


async def finish(job: HookJob, config: Config, backend: Backend, *, deadline: float) -> HookOutcome:
    """Write the message of ``job`` with the model (``deadline``: ``time.monotonic()``)."""
    started = time.perf_counter()
    result = await hook_message(job.plan, config, backend, deadline=deadline)
    info = await backend.model_info()
    origin = f"written by {info.name} in {time.perf_counter() - started:.1f} s;"
    _write(
        job.message_file,
        job.original,
        config,
        result.message,
        result.notes,
        job.plan.comment_char,
        origin,
    )
    try:  # the same change committed again (an aborted commit retried) needs no model
        remember(job.plan, result, info.name)
    except (OSError, CodeslmError) as exc:
        log.info("the message was not stored for later: %s", exc)
    return HookOutcome(True, f"{result.strategy}, {result.model_calls} model call(s)")


async def prepare(
    repo: GitRepo,
    config: Config,
    backend: Backend,
    message_file: Path,
    source: str | None,
    *,
    deadline: float,
) -> HookOutcome:
    """Both steps: write a message into ``message_file`` when the policy allows it."""
    step = start(repo, config, message_file, source)
    if isinstance(step, HookOutcome):
        return step
    return await finish(step, config, backend, deadline=deadline)


def _write(
    message_file: Path,
    original: str,
    config: Config,
    message: str,
    notes: list[str],
    comment_char: str,
    origin: str,
) -> None:
    text = compose(
        original,
        message,
        notes,
        comment_char=comment_char,
        mode=config.git.hook_write,
        origin=origin,
    )
    atomic_write(message_file, text, expected_old=original)
